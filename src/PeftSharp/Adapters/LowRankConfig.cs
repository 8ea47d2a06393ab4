using System.Text.Json.Serialization;
using PeftSharp.IO;

namespace PeftSharp.Adapters;

/// <summary>
/// The fields every method with one rank, one scaling numerator and input dropout shares (LoRA,
/// AdaLoRA, DyLoRA, SoRA, Tied-LoRA), under PEFT's names, with their checks.
/// </summary>
public abstract class LowRankConfig : AdapterConfig
{
    /// <summary>Rank (PEFT's <c>r</c>, default 8).</summary>
    [JsonPropertyName("r")]
    public int R { get; set; } = 8;

    /// <summary>Scaling numerator (PEFT's <c>lora_alpha</c>, default 8).</summary>
    [JsonPropertyName("lora_alpha")]
    public double LoraAlpha { get; set; } = 8;

    /// <summary>Dropout probability on the adapter input only (PEFT's <c>lora_dropout</c>, default 0: identity).</summary>
    [JsonPropertyName("lora_dropout")]
    public double LoraDropout { get; set; }

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.Rank(R, nameof(R), "r");
        check.Finite(LoraAlpha, nameof(LoraAlpha), "lora_alpha");
        check.Dropout(LoraDropout, nameof(LoraDropout), "lora_dropout");
    }
}
