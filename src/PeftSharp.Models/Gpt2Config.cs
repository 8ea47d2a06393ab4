using System.Text.Json.Serialization;
using PeftSharp.IO;

namespace PeftSharp.Models;

/// <summary>GPT-2 (<c>model_type</c> <c>gpt2</c>).</summary>
public sealed class Gpt2Config : ModelConfig
{
    /// <summary>Vocabulary size.</summary>
    [JsonPropertyName("vocab_size")]
    public int VocabSize { get; set; } = 50257;

    /// <summary>Hidden size.</summary>
    [JsonPropertyName("n_embd")]
    public int NEmbd { get; set; } = 768;

    /// <summary>Layers.</summary>
    [JsonPropertyName("n_layer")]
    public int NLayer { get; set; } = 12;

    /// <summary>Heads.</summary>
    [JsonPropertyName("n_head")]
    public int NHead { get; set; } = 12;

    /// <summary>Context length.</summary>
    [JsonPropertyName("n_positions")]
    public int NPositions { get; set; } = 1024;

    /// <summary>Hugging Face <c>n_inner</c> (null: 4 × <see cref="NEmbd"/>).</summary>
    [JsonPropertyName("n_inner")]
    public int? NInnerSetting { get; set; }

    /// <summary>Feed-forward size.</summary>
    [JsonIgnore]
    public int NInner => NInnerSetting ?? 4 * NEmbd;

    /// <summary>Activation (<c>gelu_new</c> by default).</summary>
    [JsonPropertyName("activation_function")]
    public string ActivationFunction { get; set; } = "gelu_new";

    /// <summary>LayerNorm epsilon.</summary>
    [JsonPropertyName("layer_norm_epsilon")]
    public double LayerNormEpsilon { get; set; } = 1e-5;

    /// <summary>Residual dropout.</summary>
    [JsonPropertyName("resid_pdrop")]
    public double ResidDropout { get; set; } = 0.1;

    /// <summary>Embedding dropout.</summary>
    [JsonPropertyName("embd_pdrop")]
    public double EmbdDropout { get; set; } = 0.1;

    /// <summary>Attention dropout.</summary>
    [JsonPropertyName("attn_pdrop")]
    public double AttnDropout { get; set; } = 0.1;

    /// <summary>Scale attention scores by 1/√head_dim.</summary>
    [JsonPropertyName("scale_attn_weights")]
    public bool ScaleAttnWeights { get; set; } = true;

    /// <summary>Hugging Face <c>scale_attn_by_inverse_layer_idx</c>; not supported (must be false).</summary>
    [JsonPropertyName("scale_attn_by_inverse_layer_idx")]
    public bool ScaleAttnByInverseLayerIdx { get; set; }

    /// <summary>Hugging Face <c>reorder_and_upcast_attn</c>; not supported (must be false).</summary>
    [JsonPropertyName("reorder_and_upcast_attn")]
    public bool ReorderAndUpcastAttn { get; set; }

    /// <summary>Hugging Face <c>tie_word_embeddings</c>; only tied input/output embeddings are supported.</summary>
    [JsonPropertyName("tie_word_embeddings")]
    public bool TieWordEmbeddings { get; set; } = true;

    /// <summary>Beginning-of-sequence token.</summary>
    [JsonPropertyName("bos_token_id")]
    public int BosTokenId { get; set; } = 50256;

    /// <summary>End-of-sequence token.</summary>
    [JsonPropertyName("eos_token_id")]
    public int EosTokenId { get; set; } = 50256;

    /// <summary>Reads a GPT-2 config from parsed JSON.</summary>
    /// <exception cref="ConfigFormatException">A field is missing, of the wrong type or out of range.</exception>
    public static Gpt2Config Read(ConfigJson json) => Read(json, ModelConfigJsonContext.Default.Gpt2Config);

    /// <summary>Reads a GPT-2 config from a directory or file.</summary>
    public static Gpt2Config Load(string path) => Read(LoadJson(path));

    private protected override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.OneOf(ModelType, ["gpt2"], nameof(ModelType), "model_type");
        check.Rank(VocabSize, nameof(VocabSize), "vocab_size");
        check.Rank(NEmbd, nameof(NEmbd), "n_embd");
        check.Rank(NLayer, nameof(NLayer), "n_layer");
        check.Rank(NHead, nameof(NHead), "n_head");
        check.Rank(NPositions, nameof(NPositions), "n_positions");
        check.Rank(NInner, nameof(NInnerSetting), "n_inner");
        check.Require(!ScaleAttnByInverseLayerIdx, nameof(ScaleAttnByInverseLayerIdx), "scale_attn_by_inverse_layer_idx", "false (not supported)", true);
        check.Require(!ReorderAndUpcastAttn, nameof(ReorderAndUpcastAttn), "reorder_and_upcast_attn", "false (not supported)", true);
        check.Require(TieWordEmbeddings, nameof(TieWordEmbeddings), "tie_word_embeddings", "true (only tied input/output embeddings are supported)", false);
        check.Require(NEmbd % NHead == 0, nameof(NHead), "n_head", $"a divisor of n_embd {NEmbd}", NHead);
        CheckActivation(check, ActivationFunction, nameof(ActivationFunction), "activation_function");
    }
}
