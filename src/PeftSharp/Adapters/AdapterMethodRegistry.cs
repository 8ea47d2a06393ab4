using PeftSharp.Conformance;
using PeftSharp.Methods.AdaLora.Verification;
using PeftSharp.Methods.DyLora.Verification;
using PeftSharp.Methods.Lora.Verification;
using PeftSharp.Methods.Sara.Verification;
using PeftSharp.Methods.Sora.Verification;
using PeftSharp.Methods.TiedLora.Verification;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara;
using PeftSharp.Methods.Sora;
using PeftSharp.Methods.TiedLora;

namespace PeftSharp.Adapters;

/// <summary>A method PeftSharp implements: its names, its configuration type and its conformance handler.</summary>
/// <param name="Name">Short name used by the CLI and conformance cases (<c>lora</c>, <c>dylora</c>, ...).</param>
/// <param name="PeftType">PEFT's <c>peft_type</c> (<c>LORA</c>, ...).</param>
/// <param name="CreateConfig">Creates a configuration with the method's defaults (filled from a file by <see cref="AdapterConfig.ReadJson"/>).</param>
/// <param name="CreateConformanceHandler">Creates the handler for the method's conformance cases, or null.</param>
/// <param name="CreateTrainingConfig">
/// The method's recommended configuration for fine-tuning an encoder's attention (query/value) with the
/// classifier trained in full, given the total optimizer steps; null while the method cannot train.
/// The trainer, <c>peft train</c> and <c>peft demo</c> use it.
/// </param>
public sealed record AdapterMethodInfo(string Name, string PeftType, Func<AdapterConfig> CreateConfig, Func<IConformanceHandler>? CreateConformanceHandler, Func<int, AdapterConfig>? CreateTrainingConfig = null);

/// <summary>
/// The methods PeftSharp knows. Injection, IO, the trainer and the CLI look methods up here and never
/// name one; adding a method means adding its folder and one line below.
/// </summary>
public static class AdapterMethodRegistry
{
    private static readonly List<AdapterMethodInfo> Methods =
    [
        new("lora", LoraConfig.Type, () => new LoraConfig(), () => new LoraConformance(), _ => LoraConfig.ForEncoderClassification()),
        new("adalora", AdaLoraConfig.Type, () => new AdaLoraConfig(), () => new AdaLoraConformance(), AdaLoraConfig.ForEncoderClassification),
        new("dylora", DyLoraConfig.Type, () => new DyLoraConfig(), () => new DyLoraConformance(), _ => DyLoraConfig.ForEncoderClassification()),
        new("sora", SoraConfig.Type, () => new SoraConfig(), () => new SoraConformance(), _ => SoraConfig.ForEncoderClassification()),
        new("sara", SaraConfig.Type, () => new SaraConfig(), () => new SaraConformance(), _ => SaraConfig.ForEncoderClassification()),
        new("mosara", MoSaraConfig.Type, () => new MoSaraConfig(), null, _ => MoSaraConfig.ForEncoderClassification()),
        new("tied_lora", TiedLoraConfig.Type, () => new TiedLoraConfig(), () => new TiedLoraConformance(), _ => TiedLoraConfig.ForEncoderClassification()),
    ];

    /// <summary>Every registered method.</summary>
    public static IReadOnlyList<AdapterMethodInfo> All => Methods;

    /// <summary>The method called <paramref name="name"/> (short name or PEFT type, any case), or null.</summary>
    public static AdapterMethodInfo? Find(string name) =>
        Methods.FirstOrDefault(m =>
            string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase) ||
            string.Equals(m.PeftType, name, StringComparison.OrdinalIgnoreCase));
}
