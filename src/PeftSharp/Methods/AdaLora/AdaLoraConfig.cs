using PeftSharp.Adapters;

namespace PeftSharp.Methods.AdaLora;

/// <summary>
/// AdaLoRA (Zhang et al., 2023), PEFT's <c>AdaLoraConfig</c>: the SVD-form path, the rank allocator
/// and the orthogonality regulariser, PEFT's checkpoint format (loading adapters saved at their kept
/// ranks). Training needs <see cref="TotalStep"/>. <see cref="LowRankConfig.R"/> is PEFT's unused <c>r</c>.
/// </summary>
public sealed class AdaLoraConfig : LowRankConfig
{
    /// <summary>Rank every module starts with (default 12).</summary>
    [Rank] public int InitR { get; set; } = 12;

    /// <summary>Average final rank; the budget is TargetR × modules (default 8).</summary>
    public int TargetR { get; set; } = 8;

    /// <summary>Warm-up steps at full budget.</summary>
    [JsonPropertyName("tinit")]
    [NonNegative] public int TInit { get; set; }

    /// <summary>Length of the final fixed-budget phase.</summary>
    [JsonPropertyName("tfinal")]
    [NonNegative] public int TFinal { get; set; }

    /// <summary>Re-allocation interval in the budget phase.</summary>
    [JsonPropertyName("deltaT")]
    [Rank] public int DeltaT { get; set; } = 1;

    /// <summary>EMA factor of sensitivity, in (0, 1).</summary>
    [OpenUnit] public double Beta1 { get; set; } = 0.85;

    /// <summary>EMA factor of uncertainty, in (0, 1).</summary>
    [OpenUnit] public double Beta2 { get; set; } = 0.85;

    /// <summary>Weight of the orthogonality penalty.</summary>
    [NonNegative] public double OrthRegWeight { get; set; } = 0.5;

    /// <summary>Total optimizer steps (required for training).</summary>
    public int? TotalStep { get; set; }

    /// <summary>
    /// PEFT's allocation result: module key (<c>&lt;module&gt;.lora_E</c>) → keep-mask of length
    /// <see cref="InitR"/>. Null until an allocation ran. Modules listed here are built at their kept rank.
    /// </summary>
    public Dictionary<string, bool[]>? RankPattern { get; set; }

    /// <inheritdoc />
    protected internal override IReadOnlyList<string> UnsupportedOptions { get; } = ["use_dora"];

    /// <inheritdoc />
    protected internal override IReadOnlyList<string> IgnoredOptions { get; } = ["auto_mapping", "peft_version", "use_rslora", "init_lora_weights", "alpha_pattern"];

    [JsonInclude]
    internal bool UseDora => false;

    [JsonInclude]
    internal bool UseRslora => false;

    [JsonInclude]
    internal bool InitLoraWeights => true;

    [JsonInclude]
    internal Dictionary<string, double> AlphaPattern => [];

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
    /// <see cref="DebertaAllMatrices"/>, otherwise as the method's training preset (init_r 12 →
    /// target_r 8, alpha 32, orthogonality weight 0.1, tinit 10 %, tfinal 30 %); classifier and pooler
    /// trained in full.
    /// </summary>
    public static AdaLoraConfig ForDebertaAllMatrices(int totalSteps)
    {
        var config = AdaLoraMethod.Instance.CreateEncoderPreset(totalSteps);
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

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        var check = new ConfigValidator(GetType().Name, SourceFile, reading: false);
        check.Require(InferenceMode || TotalStep > TInit + TFinal, nameof(TotalStep), "total_step", $"set and above tinit + tfinal = {TInit + TFinal} for training", TotalStep);
    }

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.Require(TargetR > 0, nameof(TargetR), "target_r", "an integer > 0 (a zero budget would prune every rank and train nothing; to train only modules_to_save, use them without an adapter)", TargetR);
        foreach (var (key, mask) in RankPattern ?? [])
        {
            check.Require(mask?.Length == InitR, $"{nameof(RankPattern)}['{key}']", $"rank_pattern.{key}", $"a keep-mask of init_r = {InitR} entries", mask is null ? null : $"{mask.Length} entries");
        }
    }
}
