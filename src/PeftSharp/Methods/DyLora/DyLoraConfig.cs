using PeftSharp.Adapters;

namespace PeftSharp.Methods.DyLora;

/// <summary>
/// DyLoRA: one LoRA block of rank r_max (<see cref="LowRankConfig.R"/>) trained so that every prefix
/// rank b = 1..r_max works, scaling alpha / b (<c>peft_type</c> <c>DYLORA</c>, a PeftSharp type; export
/// any rank as plain LoRA with <c>ExportPlainLora</c> after <see cref="DyLora.SetRank"/>).
/// </summary>
public sealed class DyLoraConfig : LowRankConfig
{
    /// <summary>Creates the defaults: r_max 8, alpha 16.</summary>
    public DyLoraConfig() => LoraAlpha = 16;

    /// <summary>Frozen mode (the official default): only the newest component of the sampled rank learns.</summary>
    public bool FrozenMode { get; set; } = true;

    /// <summary>
    /// Strict freeze (not the published algorithm): components other than the sampled one keep their
    /// values exactly, instead of drifting through AdamW momentum and weight decay.
    /// </summary>
    public bool StrictFreeze { get; set; }

    /// <summary>Rank used after training and at load (null: r_max).</summary>
    public int? EvalRank { get; set; }

    /// <summary>Seed of the per-step rank draws.</summary>
    public int RankSeed { get; set; }

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.Require(EvalRank is null || (EvalRank >= 1 && EvalRank <= R), nameof(EvalRank), "eval_rank", $"an integer in 1..{R}", EvalRank);
    }
}
