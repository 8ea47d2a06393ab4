using PeftSharp.Models.Decoders;

namespace PeftSharp.Models;

/// <summary>
/// Builds Llama decoders (<c>LlamaForCausalLM</c>) for causal-LM pretraining from scratch: RMSNorm,
/// rotary positions, grouped-query attention, a SwiGLU MLP, no biases, fp32 weights. The
/// <c>config.json</c> it writes is what transformers' <c>LlamaConfig</c> writes for the same model.
/// </summary>
public sealed class LlamaArchitecture : PretrainingArchitecture
{
    private LlamaArchitecture()
    {
    }

    /// <summary>The architecture.</summary>
    public static LlamaArchitecture Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "llama";

    /// <inheritdoc />
    public override ModelTask Objective => ModelTask.CausalLanguageModeling;

    /// <summary>The Hugging Face <c>config.json</c> of a Llama model of <paramref name="shape"/>.</summary>
    public static JsonObject ConfigFor(DecoderShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["vocab_size"] = shape.VocabularySize,
            ["hidden_size"] = shape.Hidden,
            ["intermediate_size"] = shape.IntermediateSize,
            ["num_hidden_layers"] = shape.Layers,
            ["num_attention_heads"] = shape.Heads,
            ["num_key_value_heads"] = shape.KeyValueHeads,
            ["head_dim"] = shape.Hidden / shape.Heads,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = shape.MaxPositions,
            ["initializer_range"] = 0.02,
            ["rms_norm_eps"] = shape.RmsNormEps,
            ["rope_theta"] = shape.RopeTheta,
            ["attention_bias"] = false,
            ["attention_dropout"] = 0.0,
            ["mlp_bias"] = false,
            ["pretraining_tp"] = 1,
            ["tie_word_embeddings"] = shape.TieWordEmbeddings,
            ["use_cache"] = true,
            ["bos_token_id"] = shape.BosTokenId,
            ["eos_token_id"] = new JsonArray([.. shape.EosTokenIds.Select(id => (JsonNode)id)]),
            ["pad_token_id"] = shape.PadTokenId,
            ["torch_dtype"] = "float32",
        };
    }

    /// <summary>A randomly initialised fp32 Llama of <paramref name="shape"/> (weights ~ N(0, 0.02), RMSNorm weights 1).</summary>
    /// <exception cref="ArgumentException">The shape is inconsistent (heads not dividing the hidden size or each other, the pad id among the EOS ids, an id outside the vocabulary).</exception>
    public DecoderForCausalLM Create(DecoderShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Heads <= 0 || shape.KeyValueHeads <= 0 || shape.Hidden % shape.Heads != 0 || shape.Heads % shape.KeyValueHeads != 0)
        {
            throw new ArgumentException($"heads {shape.Heads} must divide hidden {shape.Hidden}, and key/value heads {shape.KeyValueHeads} must divide heads", nameof(shape));
        }

        if (shape.EosTokenIds.Count == 0 || shape.EosTokenIds.Contains(shape.PadTokenId))
        {
            throw new ArgumentException($"the pad id {shape.PadTokenId} must differ from every EOS id ({string.Join(", ", shape.EosTokenIds)}), and there must be one", nameof(shape));
        }

        if (shape.EosTokenIds.Append(shape.PadTokenId).Append(shape.BosTokenId).Any(id => id < 0 || id >= shape.VocabularySize))
        {
            throw new ArgumentException($"special ids must lie in the vocabulary of {shape.VocabularySize}", nameof(shape));
        }

        var model = new DecoderForCausalLM(new DecoderConfig(new ConfigJson(ConfigFor(shape), "pretrain")));
        InitializeNormal(model);
        return model;
    }

    /// <inheritdoc />
    private protected override bool IsNormParameter(string name) => name.EndsWith("norm.weight", StringComparison.Ordinal);
}
