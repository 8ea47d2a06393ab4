using PeftSharp.Models;
using PeftSharp.Models.Decoders;

namespace PeftSharp.Fuzzing;

/// <summary>
/// A model's <c>config.json</c> through <see cref="PretrainedModel.ReadConfig(ConfigJson)"/>, the path
/// <see cref="PretrainedModel.FromPretrained(string, bool, out WeightsLoadReport)"/> reads it by, for
/// every family (BERT/RoBERTa, GPT-2, DeBERTa-v2, and the llama, mistral, qwen2, qwen3 and phi3
/// decoders with their RoPE scaling, sliding windows, end-of-sequence lists, head widths and fused
/// layouts). No model is built, so claimed sizes (a vocabulary of 2^40) must be rejected or kept as
/// numbers, never allocated. An accepted configuration must be consistent and its saved document
/// must read back as the same family.
/// </summary>
public sealed class ModelConfigFuzzTarget : FuzzTarget
{
    private readonly JsonFuzzMutator _mutator;

    /// <summary>Creates the target.</summary>
    public ModelConfigFuzzTarget()
    {
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (var seed in ModelConfigSeeds.All)
        {
            Collect(JsonNode.Parse(seed), fields);
        }

        JsonNode?[] values =
        [
            "llama", "mistral", "qwen2", "qwen3", "phi3", "bert", "roberta", "gpt2", "deberta-v2", "t5",
            new JsonArray("LlamaForCausalLM"), new JsonArray("Phi3ForCausalLM"), new JsonArray("Qwen3ForCausalLM"), new JsonArray("BertForMaskedLM"),
            new JsonArray("DebertaV2ForMaskedLM"), new JsonArray("GPT2LMHeadModel"), new JsonArray(1), new JsonArray(),
            "silu", "gelu", "gelu_new", "relu", "swish", "tanh", "linear", "dynamic", "llama3", "yarn", "longrope", "default",
            "full_attention", "sliding_attention", "p2c", "c2p", "layer_norm",
            new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 }, new JsonObject { ["type"] = "linear", ["factor"] = 0.5 },
            new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 4.0, ["high_freq_factor"] = 1.0, ["original_max_position_embeddings"] = 8192 },
            new JsonObject { ["quant_method"] = "gptq" }, new JsonArray("sliding_attention", "full_attention"), new JsonArray(2, -1, 2147483647), new JsonArray("p2c", "x"),
            new JsonObject { ["0"] = "a", ["2"] = "b" }, new JsonObject { ["-1"] = "a" },
            0, 1, 2, 3, -1, 7, 64, 2147483647, -2147483648, 1099511627776, 1e300, -1e300, 0.5, 1.5, 1e-12, true, false, null,
        ];
        _mutator = new JsonFuzzMutator([.. fields.Order(StringComparer.Ordinal)], values);
    }

    /// <inheritdoc />
    public override string Name => "model-config";

    /// <inheritdoc />
    public override string Description => "Feed every model family's config.json reader (BERT, RoBERTa, GPT-2, DeBERTa-v2, llama, mistral, qwen2, qwen3, phi3) mutated configurations and random bytes.";

    /// <summary>
    /// 256 bytes per input byte: the document is parsed, cloned for the family's contract and for the
    /// saved copy, and written and read again; nothing may grow with the sizes the file claims.
    /// </summary>
    public override long AllocationFactor => 256;

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed) => [.. ModelConfigSeeds.All.Select(Encoding.UTF8.GetBytes)];

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        var config = PretrainedModel.ReadConfig(ConfigJson.Parse(input, ModelConfig.FileName));
        Check(config);
        var saved = Encoding.UTF8.GetBytes(config.Json.ToJsonString());
        ModelConfig again;
        try
        {
            again = PretrainedModel.ReadConfig(ConfigJson.Parse(saved, ModelConfig.FileName));
        }
        catch (PeftException e)
        {
            throw new InvalidOperationException($"the saved config.json is refused: {e.Message}", e);
        }

        if (again.GetType() != config.GetType() || again.ModelType != config.ModelType)
        {
            throw new InvalidOperationException($"config.json read back as {again.GetType().Name} '{again.ModelType}' instead of {config.GetType().Name} '{config.ModelType}'");
        }

        return 0;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds) => _mutator.Mutate(seed, random, seeds);

    private static void Check(ModelConfig config)
    {
        switch (config)
        {
            case DecoderConfig d:
                Require(d.VocabSize > 0 && d.HiddenSize > 0 && d.IntermediateSize > 0 && d.NumHiddenLayers > 0, "decoder sizes must be positive");
                Require(d.NumAttentionHeads % d.NumKeyValueHeads == 0, "key/value heads must divide the query heads");
                Require(d.HeadDim > 0 && d.RotaryDim > 0 && d.RotaryDim % 2 == 0 && d.RotaryDim <= d.HeadDim, "the rotary width must be even and within head_dim");
                Require(d.SlidingWindows.Count == d.NumHiddenLayers, "one sliding window entry per layer");
                Require(d.SlidingWindows.Take(64).All(w => w is null or > 0), "sliding windows must be positive");
                Require(d.RmsNormEps > 0 && d.Rope.Theta > 1, "rms_norm_eps and rope_theta must be positive");
                _ = d.ArchitectureName;
                break;
            case BertConfig b:
                Require(b.HiddenSize % b.NumAttentionHeads == 0, "BERT heads must divide hidden_size");
                _ = b.ClassifierDropout + b.PadTokenId;
                break;
            case Gpt2Config g:
                _ = g.NInner;
                break;
            case DebertaV2Config v:
                _ = v.AttentionSpan + v.ScaleFactor + v.EmbeddingSize;
                break;
        }

        if (config.Id2Label.Count > 0 || config.NumLabels <= 1 << 16)
        {
            _ = config.Labels;
        }
    }

    private static void Require(bool condition, string problem)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"an accepted config is inconsistent: {problem}");
        }
    }

    private static void Collect(JsonNode? node, HashSet<string> fields)
    {
        if (node is JsonObject obj)
        {
            foreach (var (key, value) in obj)
            {
                fields.Add(key);
                Collect(value, fields);
            }
        }
    }
}
