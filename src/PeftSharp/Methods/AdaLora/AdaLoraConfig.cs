using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;

namespace PeftSharp.Methods.AdaLora;

/// <summary>
/// AdaLoRA (Zhang et al., 2023), PEFT's <c>AdaLoraConfig</c>: the SVD-form path, the rank allocator
/// and the orthogonality regulariser (through <see cref="AdaLoraController"/>), PEFT's checkpoint
/// format (loading adapters saved at their kept ranks). Training needs <see cref="TotalStep"/>.
/// </summary>
public sealed class AdaLoraConfig : AdapterConfig
{
    /// <summary>PEFT's type name.</summary>
    public const string Type = "ADALORA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>Rank every module starts with (default 12).</summary>
    public int InitR { get; set; } = 12;

    /// <summary>Average final rank; the budget is TargetR × modules (default 8).</summary>
    public int TargetR { get; set; } = 8;

    /// <summary>Warm-up steps at full budget.</summary>
    public int TInit { get; set; }

    /// <summary>Length of the final fixed-budget phase.</summary>
    public int TFinal { get; set; }

    /// <summary>Re-allocation interval in the budget phase.</summary>
    public int DeltaT { get; set; } = 1;

    /// <summary>EMA factor of sensitivity.</summary>
    public double Beta1 { get; set; } = 0.85;

    /// <summary>EMA factor of uncertainty.</summary>
    public double Beta2 { get; set; } = 0.85;

    /// <summary>Weight of the orthogonality penalty.</summary>
    public double OrthRegWeight { get; set; } = 0.5;

    /// <summary>Total optimizer steps (required for training).</summary>
    public int? TotalStep { get; set; }

    /// <summary>Scaling numerator (default 8); the scaling is <c>LoraAlpha / (InitR + 1e-5)</c>.</summary>
    public double LoraAlpha { get; set; } = 8;

    /// <summary>Dropout on the adapter input.</summary>
    public double LoraDropout { get; set; }

    /// <summary>
    /// PEFT's allocation result: module key (<c>&lt;module&gt;.lora_E</c>) → keep-mask of length
    /// <see cref="InitR"/>. Null until an allocation ran. Modules listed here are built at their kept rank.
    /// </summary>
    public Dictionary<string, bool[]>? RankPattern { get; set; }

    /// <summary>
    /// The paper's GLUE setting scaled to <paramref name="totalSteps"/>: init_r 12 → target_r 8 on query
    /// and value (final budget equal to LoRA at r 8), alpha 32, orthogonality weight 0.1, warm-up
    /// tinit 10 % and final phase tfinal 30 % of the steps, re-allocation every 10 steps; classifier and
    /// pooler trained in full.
    /// </summary>
    public static AdaLoraConfig ForEncoderClassification(int totalSteps) => new()
    {
        InitR = 12,
        TargetR = 8,
        LoraAlpha = 32,
        LoraDropout = 0.1,
        OrthRegWeight = 0.1,
        TInit = totalSteps / 10,
        TFinal = totalSteps * 3 / 10,
        DeltaT = Math.Clamp(totalSteps / 100, 1, 10),
        TotalStep = totalSteps,
        TargetModules = Adapters.TargetModules.FromNames("query", "value"),
        ModulesToSave = ["classifier", "pooler"],
        TaskType = "SEQ_CLS",
    };

    /// <summary>
    /// The AdaLoRA paper's targets on DeBERTa-v3 (Hugging Face <c>deberta-v2</c> names): all six weight
    /// matrices of every layer, W_q, W_k, W_v (<c>query_proj</c>, <c>key_proj</c>, <c>value_proj</c>),
    /// W_o (<c>attention.output.dense</c>) and the feed-forward W_f1, W_f2 (<c>intermediate.dense</c>,
    /// <c>output.dense</c>). The pooler and classifier are not among them.
    /// </summary>
    public static TargetModules DebertaAllMatrices { get; } =
        Adapters.TargetModules.FromNames("query_proj", "key_proj", "value_proj", "attention.output.dense", "intermediate.dense", "output.dense");

    /// <summary>
    /// The paper's DeBERTa-v3 GLUE setting scaled to <paramref name="totalSteps"/>: the six matrices of
    /// <see cref="DebertaAllMatrices"/>, otherwise as <see cref="ForEncoderClassification"/> (init_r 12 →
    /// target_r 8, alpha 32, orthogonality weight 0.1, tinit 10 %, tfinal 30 %); classifier and pooler
    /// trained in full.
    /// </summary>
    public static AdaLoraConfig ForDebertaAllMatrices(int totalSteps)
    {
        var config = ForEncoderClassification(totalSteps);
        config.TargetModules = DebertaAllMatrices;
        return config;
    }

    /// <summary>The kept slots (indices among init_r) of <paramref name="moduleName"/>: all when no mask names it.</summary>
    public int[] SlotsFor(string moduleName, string adapterName)
    {
        if (RankPattern is not null)
        {
            foreach (var key in new[] { $"{moduleName}.lora_E", $"{moduleName}.lora_E.{adapterName}" })
            {
                if (RankPattern.TryGetValue(key, out var mask))
                {
                    return Enumerable.Range(0, mask.Length).Where(i => mask[i]).ToArray();
                }
            }
        }

        return Enumerable.Range(0, InitR).ToArray();
    }

    /// <summary>The kept rank of <paramref name="moduleName"/> (InitR when no mask names it).</summary>
    public int RankFor(string moduleName, string adapterName) => SlotsFor(moduleName, adapterName).Length;

    /// <summary>A copy with every module's keep-mask in <see cref="RankPattern"/> (keys <c>&lt;module&gt;.lora_E</c>), as PEFT saves it.</summary>
    public override AdapterConfig ConfigForSave(string adapterName, IReadOnlyList<AdaptedModule> modules)
    {
        var copy = (AdaLoraConfig)CopyThroughJson();
        copy.RankPattern = modules
            .Where(m => m.Layer.GetPath(adapterName) is AdaLoraPath)
            .ToDictionary(m => $"{m.Name}.lora_E", m => ((AdaLoraPath)m.Layer.GetPath(adapterName)).KeepMask(), StringComparer.Ordinal);
        return copy;
    }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (InitR <= 0)
        {
            throw new PeftConfigurationException($"AdaLoraConfig.InitR must be positive, got {InitR}");
        }

        if (TargetR <= 0)
        {
            throw new PeftConfigurationException($"AdaLoraConfig.TargetR must be positive, got {TargetR}: a zero budget would prune every rank and train nothing (to train only modules_to_save, use them without an adapter)");
        }

        if (RankPattern is not null && RankPattern.FirstOrDefault(kv => kv.Value.Length != InitR) is { Key: not null } bad)
        {
            throw new PeftConfigurationException($"AdaLoraConfig.RankPattern['{bad.Key}'] has {bad.Value.Length} entries, expected init_r = {InitR}");
        }

        if (!InferenceMode && (TotalStep is not { } total || total <= TInit + TFinal))
        {
            throw new PeftConfigurationException($"AdaLoraConfig.TotalStep (total_step) must be set and exceed tinit + tfinal = {TInit + TFinal} for training; got {(TotalStep?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none")}");
        }

        if (DeltaT <= 0)
        {
            throw new PeftConfigurationException($"AdaLoraConfig.DeltaT must be positive, got {DeltaT}");
        }
    }

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var slots = SlotsFor(moduleName, context.AdapterName);
        return new AdaLoraPath(target.InFeatures, target.OutFeatures, slots.Length, InitR, LoraAlpha, LoraDropout, context.Generator, slots: slots);
    }

    /// <inheritdoc />
    public override TrainingController? CreateController(string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        InferenceMode ? null : new AdaLoraController(modules.Select(m => m.Layer.GetPath(adapterName)).OfType<AdaLoraPath>().ToList(), this);

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["init_r"] = InitR;
        json["target_r"] = TargetR;
        json["tinit"] = TInit;
        json["tfinal"] = TFinal;
        json["deltaT"] = DeltaT;
        json["beta1"] = Beta1;
        json["beta2"] = Beta2;
        json["orth_reg_weight"] = OrthRegWeight;
        json["total_step"] = TotalStep;
        json["lora_alpha"] = LoraAlpha == Math.Floor(LoraAlpha) ? JsonValue.Create((int)LoraAlpha) : JsonValue.Create(LoraAlpha);
        json["lora_dropout"] = LoraDropout;
        json["r"] = 8;
        json["use_dora"] = false;
        json["use_rslora"] = false;
        json["init_lora_weights"] = true;
        json["alpha_pattern"] = new JsonObject();
        json["rank_pattern"] = RankPattern is null
            ? null
            : new JsonObject(RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray([.. kv.Value.Select(b => (JsonNode?)JsonValue.Create(b))]))));
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        InitR = json.Int("init_r", 12);
        TargetR = json.Int("target_r", 8);
        TInit = json.Int("tinit", 0);
        TFinal = json.Int("tfinal", 0);
        DeltaT = json.Int("deltaT", 1);
        Beta1 = json.Double("beta1", 0.85);
        Beta2 = json.Double("beta2", 0.85);
        OrthRegWeight = json.Double("orth_reg_weight", 0.5);
        TotalStep = json.Has("total_step") ? json.Int("total_step", 0) : (int?)null;
        LoraAlpha = json.Double("lora_alpha", 8);
        LoraDropout = json.Double("lora_dropout", 0);
        json.Ignore("r");
        json.Ignore("init_lora_weights");
        json.Ignore("use_rslora");
        json.Ignore("alpha_pattern");
        if (json.Bool("use_dora", false))
        {
            throw json.Error("use_dora", "AdaLoRA does not support DoRA");
        }

        RankPattern = json.Node("rank_pattern") switch
        {
            null => null,
            JsonObject map => map.ToDictionary(
                kv => kv.Key,
                kv => kv.Value is JsonArray array
                    ? array.Select((b, i) => b is JsonValue v && v.TryGetValue<bool>(out var keep) ? keep : throw json.Error($"rank_pattern.{kv.Key}[{i}]", "expected true or false")).ToArray()
                    : throw json.Error($"rank_pattern.{kv.Key}", "expected a list of booleans (AdaLoRA keep-mask)"),
                StringComparer.Ordinal),
            _ => throw json.Error("rank_pattern", "expected an object of keep-masks"),
        };
    }
}
