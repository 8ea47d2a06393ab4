using PeftSharp.Adapters;

namespace PeftSharp.Methods.Lora;

/// <summary>LoRA (Hu et al., 2021): <c>ΔW = (alpha / r) · B · A</c>, PEFT's <c>LoraConfig</c>.</summary>
public sealed class LoraConfig : LowRankConfig
{
    /// <summary>rsLoRA: scale by <c>alpha / √r</c> instead of <c>alpha / r</c>.</summary>
    public bool UseRslora { get; set; }

    /// <summary>Initialisation of A and B.</summary>
    [JsonConverter(typeof(LoraInitConverter))]
    public LoraInit InitLoraWeights { get; set; } = LoraInit.Default;

    /// <summary>DoRA (PEFT's <c>use_dora</c>, weight-decomposed LoRA): each module gets a <see cref="DoraPath"/> with its magnitude vector.</summary>
    public bool UseDora { get; set; }

    /// <summary>Per-module rank overrides: the first key (a regex anchored at a dot boundary) matching a module name wins.</summary>
    public OrderedDictionary<string, int> RankPattern { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Per-module alpha overrides, matched like <see cref="RankPattern"/>.</summary>
    public OrderedDictionary<string, double> AlphaPattern { get; set; } = new(StringComparer.Ordinal);

    /// <inheritdoc />
    protected internal override IReadOnlyList<string> UnsupportedOptions { get; } =
    [
        "lora_bias", "alora_invocation_tokens", "velora_config", "monteclora_config", "use_bdlora", "arrow_config", "kasa_config",
        "use_qalora", "target_parameters", "layer_replication", "megatron_config", "trainable_token_indices",
    ];

    /// <inheritdoc />
    protected internal override IReadOnlyList<string> IgnoredOptions { get; } =
        ["auto_mapping", "peft_version", "eva_config", "corda_config", "lora_ga_config", "qalora_group_size", "ensure_weight_tying", "megatron_core", "loftq_config"];

    [JsonInclude]
    internal JsonNode? LayerReplication => null;

    [JsonInclude]
    internal JsonNode? MegatronConfig => null;

    [JsonInclude]
    internal string MegatronCore => "megatron.core";

    [JsonInclude]
    internal JsonObject LoftqConfig => [];

    /// <summary>The rank of module <paramref name="moduleName"/> after <see cref="RankPattern"/>.</summary>
    public int RankFor(string moduleName) =>
        TargetSelector.FindPatternKey(RankPattern.Keys, moduleName) is { } key ? RankPattern[key] : R;

    /// <summary>The alpha of module <paramref name="moduleName"/> after <see cref="AlphaPattern"/>.</summary>
    public double AlphaFor(string moduleName) =>
        TargetSelector.FindPatternKey(AlphaPattern.Keys, moduleName) is { } key ? AlphaPattern[key] : LoraAlpha;

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        foreach (var (key, rank) in RankPattern)
        {
            check.Regex(key, TargetSelector.RegexProblem(key, TargetSelector.PatternKeyPattern(key)), nameof(RankPattern), $"rank_pattern.{key}");
            check.Rank(rank, $"{nameof(RankPattern)}['{key}']", $"rank_pattern.{key}");
        }

        foreach (var (key, alpha) in AlphaPattern)
        {
            check.Regex(key, TargetSelector.RegexProblem(key, TargetSelector.PatternKeyPattern(key)), nameof(AlphaPattern), $"alpha_pattern.{key}");
            check.Finite(alpha, $"{nameof(AlphaPattern)}['{key}']", $"alpha_pattern.{key}");
        }
    }
}
