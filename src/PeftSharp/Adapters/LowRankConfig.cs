namespace PeftSharp.Adapters;

/// <summary>
/// The fields every method with one rank, one scaling numerator and input dropout shares (LoRA,
/// AdaLoRA, DyLoRA, SoRA, Tied-LoRA), under PEFT's names, with their checks.
/// </summary>
public abstract class LowRankConfig : AdapterConfig
{
    /// <summary>Rank (PEFT's <c>r</c>, default 8).</summary>
    [Rank] public int R { get; set; } = 8;

    /// <summary>Scaling numerator (PEFT's <c>lora_alpha</c>, default 8).</summary>
    [Finite] public double LoraAlpha { get; set; } = 8;

    /// <summary>Dropout probability on the adapter input only (PEFT's <c>lora_dropout</c>, default 0: identity).</summary>
    [Dropout] public double LoraDropout { get; set; }
}
