using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;

namespace PeftSharp.Fuzzing;

/// <summary>
/// <c>adapter_config.json</c> through <see cref="AdapterConfigFile.Read(ConfigJson, ICollection{string}?)"/>,
/// seeded with configurations of every registered method. An accepted configuration must validate,
/// select modules from a BERT- and GPT-2-like module list the way injection does, and survive a
/// write-and-read round trip unchanged.
/// </summary>
public sealed class AdapterConfigFuzzTarget : FuzzTarget
{
    private static readonly string[] ModuleNames =
    [
        "bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.attention.self.value", "bert.encoder.layer.1.attention.self.key",
        "bert.encoder.layer.1.attention.output.dense", "bert.encoder.layer.11.intermediate.dense", "bert.pooler.dense", "classifier",
        "transformer.h.0.attn.c_attn", "transformer.h.3.mlp.c_fc", "lm_head",
    ];

    private readonly JsonFuzzMutator _mutator;

    /// <summary>Creates the target.</summary>
    public AdapterConfigFuzzTarget()
    {
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (var seed in CreateSeeds(0))
        {
            fields.UnionWith(JsonNode.Parse(seed)!.AsObject().Select(p => p.Key));
        }

        JsonNode?[] values =
        [
            .. AdapterMethodRegistry.All.Select(m => JsonValue.Create(m.PeftType)),
            .. AdapterConfig.TaskTypes.Select(t => JsonValue.Create(t)),
            "all-linear", ".*\\.(query|value)", "(", "lora_only", "all", new JsonArray(""), new JsonArray("query", "value"), new JsonArray(-1, 0),
            new JsonArray(0, 2147483647), new JsonObject { ["query"] = 4 }, new JsonObject { ["("] = 2 }, new JsonObject { ["query"] = -4 },
            new JsonObject { ["bert.encoder.layer.0.attention.self.query.lora_E"] = new JsonArray(true, false) }, 0, 1, 2147483647, -2147483648, 0.5, 1.5,
        ];
        _mutator = new JsonFuzzMutator([.. fields.Order(StringComparer.Ordinal)], values);
    }

    /// <summary>
    /// 4 KiB per input byte: a regular expression in the file (target_modules, layers_pattern,
    /// rank_pattern and alpha_pattern keys) costs about a kilobyte to build plus several hundred bytes
    /// per pattern character, and reading, validating, matching and the round trip build each one
    /// several times (alone and anchored). JSON alone stays far below this. The bound still catches
    /// allocation driven by claimed counts (ranks, lengths), which is unbounded by the input.
    /// </summary>
    public override long AllocationFactor => 4096;

    /// <inheritdoc />
    public override string Name => "adapter-config";

    /// <inheritdoc />
    public override string Description => "Feed the adapter_config.json reader mutated configurations of every method and random bytes.";

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed)
    {
        var configs = new List<AdapterConfig>();
        foreach (var method in AdapterMethodRegistry.All)
        {
            if (method.CreateTrainingConfig(100) is { } training)
            {
                configs.Add(training);
            }

            foreach (var (_, variant) in method.ContractVariants())
            {
                variant.TargetModules = TargetModules.FromNames("query", "value");
                configs.Add(variant);
            }

            var allLinear = method.CreateConfig();
            allLinear.TargetModules = TargetModules.AllLinear;
            allLinear.InferenceMode = true;
            configs.Add(allLinear);

            var regex = method.CreateConfig();
            regex.TargetModules = TargetModules.FromRegex(@".*\.(query|value)");
            regex.InferenceMode = true;
            configs.Add(regex);

            var layers = method.CreateConfig();
            layers.TargetModules = TargetModules.FromNames("query", "c_attn");
            layers.LayersToTransform = [0, 1];
            layers.LayersPattern = ["layer", "h"];
            layers.ExcludeModules = TargetModules.FromNames("key");
            layers.Bias = BiasMode.All;
            layers.InferenceMode = true;
            configs.Add(layers);
        }

        configs.Add(new LoraConfig
        {
            TargetModules = TargetModules.FromNames("query", "value"),
            RankPattern = new(StringComparer.Ordinal) { ["query"] = 4 },
            AlphaPattern = new(StringComparer.Ordinal) { ["layer\\.1\\..*value"] = 16 },
            InitLoraWeights = LoraInit.Gaussian,
        });
        return [.. configs.Select(c => Encoding.UTF8.GetBytes(AdapterConfigFile.ToJson(c, "BertForSequenceClassification")))];
    }

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        var config = AdapterConfigFile.Read(ConfigJson.Parse(input, AdapterConfigFile.FileName));
        config.Validate();
        var adapted = new List<string>();
        foreach (var name in ModuleNames)
        {
            var targeted = config.TargetModules!.Kind == TargetModulesKind.AllLinear || TargetSelector.Matches(config.TargetModules, name);
            var excluded = config.ExcludeModules is { Kind: not TargetModulesKind.AllLinear } exclude && TargetSelector.Matches(exclude, name);
            if (targeted && !excluded && TargetSelector.PassesLayerFilter(config, name) && !TargetSelector.IsInsideModulesToSave(config.ModulesToSave, name))
            {
                adapted.Add(name);
                if (config is LoraConfig lora)
                {
                    _ = lora.RankFor(name);
                    _ = lora.AlphaFor(name);
                }
            }
        }

        _ = config.Method.CheckAfterInjection(config, adapted).ToList();
        var written = AdapterConfigFile.ToJson(config);
        string again;
        try
        {
            again = AdapterConfigFile.ToJson(AdapterConfigFile.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(written), AdapterConfigFile.FileName)));
        }
        catch (PeftException e)
        {
            // An accepted configuration whose own file is refused is a bug, not a rejection.
            throw new InvalidOperationException($"the rewritten adapter_config.json is refused: {e.Message}", e);
        }

        if (again != written)
        {
            throw new InvalidOperationException($"adapter_config.json changed in a write-and-read round trip:\n{written}\n{again}");
        }

        return 0;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds) => _mutator.Mutate(seed, random, seeds);
}
