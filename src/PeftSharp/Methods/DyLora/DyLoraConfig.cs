using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;

namespace PeftSharp.Methods.DyLora;

/// <summary>
/// DyLoRA: one LoRA block of rank r_max trained so that every prefix rank b = 1..r_max works
/// (<c>peft_type</c> <c>DYLORA</c>, a PeftSharp type; export any rank as plain LoRA with
/// <c>ExportPlainLora</c> after <see cref="DyLora.SetRank"/>).
/// </summary>
public sealed class DyLoraConfig : AdapterConfig
{
    /// <summary>PeftSharp's type name.</summary>
    public const string Type = "DYLORA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>r_max (default 8).</summary>
    public int R { get; set; } = 8;

    /// <summary>Scaling numerator; the scaling at rank b is alpha / b (default 16).</summary>
    public double LoraAlpha { get; set; } = 16;

    /// <summary>Dropout on the adapter input.</summary>
    public double LoraDropout { get; set; }

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

    /// <summary>The paper's GLUE setting: r_max 8, alpha 16 on query and value, classifier trained in full.</summary>
    public static DyLoraConfig ForEncoderClassification() => new()
    {
        R = 8,
        LoraAlpha = 16,
        LoraDropout = 0.1,
        TargetModules = Adapters.TargetModules.FromNames("query", "value"),
        ModulesToSave = ["classifier", "pooler"],
        TaskType = "SEQ_CLS",
    };

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new PeftConfigurationException($"DyLoraConfig.R (r_max) must be positive, got {R}");
        }

        if (EvalRank is { } rank && (rank < 1 || rank > R))
        {
            throw new PeftConfigurationException($"DyLoraConfig.EvalRank must be in 1..{R}, got {rank}");
        }
    }

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var path = new DyLoraPath(target.InFeatures, target.OutFeatures, R, LoraAlpha, LoraDropout, context.Generator);
        path.SetRank(EvalRank ?? R);
        return path;
    }

    /// <inheritdoc />
    public override TrainingController? CreateController(string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        new DyLoraController(modules.Select(m => m.Layer.GetPath(adapterName)).OfType<DyLoraPath>().ToList(), this);

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["r"] = R;
        json["lora_alpha"] = LoraAlpha;
        json["lora_dropout"] = LoraDropout;
        json["frozen_mode"] = FrozenMode;
        json["strict_freeze"] = StrictFreeze;
        json["eval_rank"] = EvalRank;
        json["rank_seed"] = RankSeed;
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        R = json.Int("r", 8);
        LoraAlpha = json.Double("lora_alpha", 16);
        LoraDropout = json.Double("lora_dropout", 0);
        FrozenMode = json.Bool("frozen_mode", true);
        StrictFreeze = json.Bool("strict_freeze", false);
        EvalRank = json.Has("eval_rank") ? json.Int("eval_rank", R) : null;
        RankSeed = json.Int("rank_seed", 0);
    }
}

/// <summary>DyLoRA operations on a whole model.</summary>
public static class DyLora
{
    /// <summary>
    /// Sets the rank of every DyLoRA path of <paramref name="adapterName"/> (default: the active adapter),
    /// or of the modules in <paramref name="perModule"/> only. Refused while the adapter is merged.
    /// </summary>
    public static void SetRank(PeftModel peft, int rank, string? adapterName = null, IReadOnlyDictionary<string, int>? perModule = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        foreach (var module in peft.ModulesOf(name))
        {
            if (module.Layer.GetPath(name) is not DyLoraPath path)
            {
                continue;
            }

            if (module.Layer.MergedAdapters.Contains(name))
            {
                throw new InvalidOperationException($"adapter '{name}' is merged into '{module.Name}'; unmerge it before changing its rank");
            }

            path.SetRank(perModule is not null && perModule.TryGetValue(module.Name, out var r) ? r : rank);
        }
    }
}
