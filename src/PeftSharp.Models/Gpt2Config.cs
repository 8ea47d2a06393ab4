namespace PeftSharp.Models;

/// <summary>GPT-2 (<c>model_type</c> <c>gpt2</c>).</summary>
public sealed class Gpt2Config : ModelConfig
{
    /// <summary>Vocabulary size.</summary>
    [Rank] public int VocabSize { get; set; } = 50257;

    /// <summary>Hidden size.</summary>
    [Rank] public int NEmbd { get; set; } = 768;

    /// <summary>Layers.</summary>
    [Rank] public int NLayer { get; set; } = 12;

    /// <summary>Heads.</summary>
    [Rank] public int NHead { get; set; } = 12;

    /// <summary>Context length.</summary>
    [Rank] public int NPositions { get; set; } = 1024;

    /// <summary>Hugging Face <c>n_inner</c> (null: 4 × <see cref="NEmbd"/>).</summary>
    [JsonPropertyName("n_inner")]
    public int? NInnerSetting { get; set; }

    /// <summary>Feed-forward size.</summary>
    [JsonIgnore]
    public int NInner => NInnerSetting ?? 4 * NEmbd;

    /// <summary>Activation (<c>gelu_new</c> by default).</summary>
    public string ActivationFunction { get; set; } = "gelu_new";

    /// <summary>LayerNorm epsilon.</summary>
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
    public bool ScaleAttnWeights { get; set; } = true;

    /// <summary>Hugging Face <c>scale_attn_by_inverse_layer_idx</c>; not supported (must be false).</summary>
    public bool ScaleAttnByInverseLayerIdx { get; set; }

    /// <summary>Hugging Face <c>reorder_and_upcast_attn</c>; not supported (must be false).</summary>
    public bool ReorderAndUpcastAttn { get; set; }

    /// <summary>Hugging Face <c>tie_word_embeddings</c>; only tied input/output embeddings are supported.</summary>
    public bool TieWordEmbeddings { get; set; } = true;

    /// <summary>Beginning-of-sequence token.</summary>
    public int BosTokenId { get; set; } = 50256;

    /// <summary>End-of-sequence token.</summary>
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
        check.Rank(NInner, nameof(NInnerSetting), "n_inner"); // the effective size: 4 × n_embd when unset, which can overflow
        check.Require(!ScaleAttnByInverseLayerIdx, nameof(ScaleAttnByInverseLayerIdx), "scale_attn_by_inverse_layer_idx", "false (not supported)", true);
        check.Require(!ReorderAndUpcastAttn, nameof(ReorderAndUpcastAttn), "reorder_and_upcast_attn", "false (not supported)", true);
        check.Require(TieWordEmbeddings, nameof(TieWordEmbeddings), "tie_word_embeddings", "true (only tied input/output embeddings are supported)", false);
        check.Require(NEmbd % NHead == 0, nameof(NHead), "n_head", $"a divisor of n_embd {NEmbd}", NHead);
        CheckActivation(check, ActivationFunction, nameof(ActivationFunction), "activation_function");
    }
}
