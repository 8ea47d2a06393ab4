using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;

namespace PeftSharp.Methods.Lora;

/// <summary>How LoRA factors start (PEFT's <c>init_lora_weights</c>).</summary>
public enum LoraInit
{
    /// <summary>A Kaiming-uniform (a = √5, i.e. U(±1/√in)), B = 0: the adapter starts as the identity (PEFT: <c>true</c>).</summary>
    Default,

    /// <summary>A ~ N(0, (1/r)²), B = 0 (PEFT: <c>"gaussian"</c>).</summary>
    Gaussian,

    /// <summary>A and B both Kaiming-uniform: the adapter changes the output from the start; for tests and debugging (PEFT: <c>false</c>).</summary>
    Random,
}

/// <summary>LoRA (Hu et al., 2021): <c>ΔW = (alpha / r) · B · A</c>, PEFT's <c>LoraConfig</c>.</summary>
public sealed class LoraConfig : AdapterConfig
{
    /// <summary>PEFT's type name.</summary>
    public const string Type = "LORA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>Rank (default 8).</summary>
    public int R { get; set; } = 8;

    /// <summary>Scaling numerator (default 8).</summary>
    public double LoraAlpha { get; set; } = 8;

    /// <summary>Dropout probability on the adapter input only (default 0: identity).</summary>
    public double LoraDropout { get; set; }

    /// <summary>rsLoRA: scale by <c>alpha / √r</c> instead of <c>alpha / r</c>.</summary>
    public bool UseRslora { get; set; }

    /// <summary>Initialisation of A and B.</summary>
    public LoraInit InitLoraWeights { get; set; } = LoraInit.Default;

    /// <summary>Per-module rank overrides: the first key (a regex anchored at a dot boundary) matching a module name wins.</summary>
    public OrderedDictionary<string, int> RankPattern { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Per-module alpha overrides, matched like <see cref="RankPattern"/>.</summary>
    public OrderedDictionary<string, double> AlphaPattern { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The paper's GLUE setting: r = 8, alpha = 16 on query and value; classifier (and pooler) trained in full.</summary>
    public static LoraConfig ForEncoderClassification() => new()
    {
        R = 8,
        LoraAlpha = 16,
        LoraDropout = 0.1,
        TargetModules = TargetModules.FromNames("query", "value"),
        ModulesToSave = ["classifier", "pooler"],
        TaskType = "SEQ_CLS",
    };

    /// <summary>The rank of module <paramref name="moduleName"/> after <see cref="RankPattern"/>.</summary>
    public int RankFor(string moduleName) =>
        TargetSelector.FindPatternKey(RankPattern.Keys, moduleName) is { } key ? RankPattern[key] : R;

    /// <summary>The alpha of module <paramref name="moduleName"/> after <see cref="AlphaPattern"/>.</summary>
    public double AlphaFor(string moduleName) =>
        TargetSelector.FindPatternKey(AlphaPattern.Keys, moduleName) is { } key ? AlphaPattern[key] : LoraAlpha;

    /// <summary>
    /// LoRA options that change the math or the module tree and that PeftSharp does not implement;
    /// a file that sets any of them to a non-default value is refused.
    /// </summary>
    private static readonly string[] UnsupportedOptions =
    [
        "use_dora", "lora_bias", "alora_invocation_tokens", "velora_config", "monteclora_config", "use_bdlora",
        "arrow_config", "kasa_config", "use_qalora", "target_parameters", "layer_replication", "megatron_config",
        "trainable_token_indices",
    ];

    /// <summary>Options that only steer initialisation (irrelevant once trained weights are loaded); read and ignored.</summary>
    private static readonly string[] InitOnlyOptions =
    [
        "loftq_config", "eva_config", "corda_config", "lora_ga_config", "megatron_core", "qalora_group_size", "ensure_weight_tying",
    ];

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["r"] = R;
        json["lora_alpha"] = NumberNode(LoraAlpha);
        json["lora_dropout"] = LoraDropout;
        json["use_rslora"] = UseRslora;
        json["init_lora_weights"] = InitLoraWeights switch
        {
            LoraInit.Gaussian => JsonValue.Create("gaussian"),
            LoraInit.Random => JsonValue.Create(false),
            _ => JsonValue.Create(true),
        };
        json["rank_pattern"] = new JsonObject(RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        json["alpha_pattern"] = new JsonObject(AlphaPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)NumberNode(kv.Value))));
        json["use_dora"] = false;
        json["layer_replication"] = null;
        json["megatron_config"] = null;
        json["megatron_core"] = "megatron.core";
        json["loftq_config"] = new JsonObject();
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        R = json.Int("r", 8);
        LoraAlpha = json.Double("lora_alpha", 8);
        LoraDropout = json.Double("lora_dropout", 0);
        UseRslora = json.Bool("use_rslora", false);
        InitLoraWeights = json.Node("init_lora_weights") switch
        {
            null => LoraInit.Default,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? LoraInit.Default : LoraInit.Random,
            JsonValue v when v.TryGetValue<string>(out var name) && name == "gaussian" => LoraInit.Gaussian,
            // Data-dependent inits (pissa, olora, loftq, eva, ...) only matter before training; trained weights are loaded over them.
            JsonValue v when v.TryGetValue<string>(out _) => LoraInit.Default,
            _ => throw json.Error("init_lora_weights", "expected true, false or an init name"),
        };
        RankPattern = json.IntMap("rank_pattern");
        AlphaPattern = json.DoubleMap("alpha_pattern");
        foreach (var (field, keys) in new (string, IEnumerable<string>)[] { ("rank_pattern", RankPattern.Keys), ("alpha_pattern", AlphaPattern.Keys) })
        {
            foreach (var key in keys)
            {
                if (TargetSelector.RegexProblem(key, TargetSelector.PatternKeyPattern(key)) is { } problem)
                {
                    throw json.Error($"{field}.{key}", $"the key is not a valid regular expression: {problem}");
                }
            }
        }
        foreach (var option in UnsupportedOptions)
        {
            var node = json.Node(option);
            var isDefault = node is null
                || (node is JsonValue v && v.TryGetValue<bool>(out var flag) && !flag)
                || (node is JsonArray { Count: 0 })
                || (node is JsonObject { Count: 0 });
            if (!isDefault)
            {
                throw json.Error(option, $"unsupported LoRA option {option} = {node!.ToJsonString()}: PeftSharp does not implement it");
            }
        }

        foreach (var option in InitOnlyOptions)
        {
            json.Ignore(option);
        }
    }

    private static JsonNode NumberNode(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < int.MaxValue ? JsonValue.Create((int)value) : JsonValue.Create(value);

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new PeftConfigurationException($"LoraConfig.R must be positive, got {R}");
        }

        if (LoraDropout is < 0 or >= 1 || double.IsNaN(LoraDropout))
        {
            throw new PeftConfigurationException($"LoraConfig.LoraDropout must be in [0, 1), got {LoraDropout}");
        }

        if (!double.IsFinite(LoraAlpha))
        {
            throw new PeftConfigurationException($"LoraConfig.LoraAlpha must be finite, got {LoraAlpha}");
        }

        foreach (var (key, rank) in RankPattern)
        {
            CheckPatternKey("RankPattern", key);
            if (rank <= 0)
            {
                throw new PeftConfigurationException($"LoraConfig.RankPattern['{key}'] must be positive, got {rank}");
            }
        }

        foreach (var (key, alpha) in AlphaPattern)
        {
            CheckPatternKey("AlphaPattern", key);
            if (!double.IsFinite(alpha))
            {
                throw new PeftConfigurationException($"LoraConfig.AlphaPattern['{key}'] must be finite, got {alpha}");
            }
        }
    }

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context) =>
        new LoraPath(target.InFeatures, target.OutFeatures, RankFor(moduleName), AlphaFor(moduleName), LoraDropout, UseRslora, InitLoraWeights, context.Generator);

    /// <inheritdoc />
    public override IEnumerable<string> CheckAfterInjection(IReadOnlyList<string> adaptedModuleNames)
    {
        foreach (var (name, keys) in new[] { ("rank_pattern", RankPattern.Keys.ToList()), ("alpha_pattern", AlphaPattern.Keys.ToList()) })
        {
            foreach (var key in keys)
            {
                if (!adaptedModuleNames.Any(m => TargetSelector.FindPatternKey([key], m) is not null))
                {
                    yield return $"{name} key '{key}' matches no adapted module";
                }
            }
        }
    }

    private static void CheckPatternKey(string field, string key)
    {
        if (TargetSelector.RegexProblem(key, TargetSelector.PatternKeyPattern(key)) is { } problem)
        {
            throw new PeftConfigurationException($"LoraConfig.{field} key '{key}' is not a valid regular expression: {problem}");
        }
    }
}
