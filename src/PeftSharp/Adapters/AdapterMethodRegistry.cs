using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara;
using PeftSharp.Methods.Sora;
using PeftSharp.Methods.TiedLora;

namespace PeftSharp.Adapters;

/// <summary>
/// The methods PeftSharp knows. Injection, IO, the trainer and the CLI look methods up here and never
/// name one; adding a method means adding its folder and one line below.
/// </summary>
public static class AdapterMethodRegistry
{
    private static readonly AdapterMethod[] Methods =
    [
        LoraMethod.Instance,
        AdaLoraMethod.Instance,
        DyLoraMethod.Instance,
        SoraMethod.Instance,
        SaraMethod.Instance,
        MoSaraMethod.Instance,
        TiedLoraMethod.Instance,
    ];

    /// <summary>Every registered method.</summary>
    public static IReadOnlyList<AdapterMethod> All => Methods;

    /// <summary>The method whose settings type is <paramref name="configType"/>, or null.</summary>
    public static AdapterMethod? ForConfig(Type configType) => Methods.FirstOrDefault(m => m.ConfigType == configType);

    /// <summary>The method called <paramref name="name"/> (short name or PEFT type, any case), or null.</summary>
    public static AdapterMethod? Find(string name) =>
        Methods.FirstOrDefault(m =>
            string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase) ||
            string.Equals(m.PeftType, name, StringComparison.OrdinalIgnoreCase));
}
