using PeftSharp.Adapters;
using PeftSharp.IO.Json;

namespace PeftSharp.Methods.Sara;

/// <summary>
/// SARA (Gu et al., arXiv 2408.03290): every target module gets its own rank k, chosen once at
/// initialisation from the SVD of its pretrained weight (<see cref="SaraRankConfig"/>), then trains
/// like LoRA. No official code exists; the [R] choices are options documented in docs/methods/sara.md.
/// </summary>
public sealed class SaraConfig : SaraRankConfig
{
    /// <summary>The path form (default <see cref="SaraForm.Lora"/>, the better of the two on the bundled tasks; see docs/methods/sara.md).</summary>
    [JsonConverter(typeof(SnakeCaseEnumConverter<SaraForm>))]
    public SaraForm Form { get; set; } = SaraForm.Lora;

    /// <summary>Scaling numerator: each module's scaling is <c>LoraAlpha / k</c> (default 16).</summary>
    [Finite] public double LoraAlpha { get; set; } = 16;

    /// <summary>Weight of AdaLoRA's orthogonality penalty on P and Q for the <see cref="SaraForm.Svd"/> form (default 0: off) [R].</summary>
    [NonNegative] public double OrthRegWeight { get; set; }
}
