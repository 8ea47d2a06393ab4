using System.Text.Json.Serialization;
using PeftSharp.IO;

namespace PeftSharp.Models;

/// <summary>BERT and RoBERTa (<c>model_type</c> <c>bert</c> or <c>roberta</c>).</summary>
public sealed class BertConfig : ModelConfig
{
    /// <summary>True for RoBERTa (position ids start after the padding index).</summary>
    [JsonIgnore]
    public bool IsRoberta => ModelType == "roberta";

    /// <summary>Vocabulary size.</summary>
    [JsonPropertyName("vocab_size")]
    public int VocabSize { get; set; } = 30522;

    /// <summary>Hidden size.</summary>
    [JsonPropertyName("hidden_size")]
    public int HiddenSize { get; set; } = 768;

    /// <summary>Number of layers.</summary>
    [JsonPropertyName("num_hidden_layers")]
    public int NumHiddenLayers { get; set; } = 12;

    /// <summary>Attention heads.</summary>
    [JsonPropertyName("num_attention_heads")]
    public int NumAttentionHeads { get; set; } = 12;

    /// <summary>Feed-forward size.</summary>
    [JsonPropertyName("intermediate_size")]
    public int IntermediateSize { get; set; } = 3072;

    /// <summary>Activation (<c>gelu</c>, <c>gelu_new</c>, <c>relu</c>, ...).</summary>
    [JsonPropertyName("hidden_act")]
    public string HiddenAct { get; set; } = "gelu";

    /// <summary>Dropout on hidden states.</summary>
    [JsonPropertyName("hidden_dropout_prob")]
    public double HiddenDropout { get; set; } = 0.1;

    /// <summary>Dropout on attention probabilities.</summary>
    [JsonPropertyName("attention_probs_dropout_prob")]
    public double AttentionDropout { get; set; } = 0.1;

    /// <summary>Hugging Face <c>classifier_dropout</c> (null: <see cref="HiddenDropout"/>).</summary>
    [JsonPropertyName("classifier_dropout")]
    public double? ClassifierDropoutSetting { get; set; }

    /// <summary>Dropout before the classifier.</summary>
    [JsonIgnore]
    public double ClassifierDropout => ClassifierDropoutSetting ?? HiddenDropout;

    /// <summary>Position table size.</summary>
    [JsonPropertyName("max_position_embeddings")]
    public int MaxPositionEmbeddings { get; set; } = 512;

    /// <summary>Token type table size.</summary>
    [JsonPropertyName("type_vocab_size")]
    public int TypeVocabSize { get; set; } = 2;

    /// <summary>LayerNorm epsilon.</summary>
    [JsonPropertyName("layer_norm_eps")]
    public double LayerNormEps { get; set; } = 1e-12;

    /// <summary>Hugging Face <c>pad_token_id</c> (null: 1 for RoBERTa, 0 for BERT).</summary>
    [JsonPropertyName("pad_token_id")]
    public int? PadTokenIdSetting { get; set; }

    /// <summary>Padding token id.</summary>
    [JsonIgnore]
    public int PadTokenId => PadTokenIdSetting ?? (IsRoberta ? 1 : 0);

    /// <summary>Hugging Face <c>position_embedding_type</c>; only <c>absolute</c> is supported.</summary>
    [JsonPropertyName("position_embedding_type")]
    public string PositionEmbeddingType { get; set; } = "absolute";

    /// <summary>Reads a BERT/RoBERTa config from parsed JSON.</summary>
    /// <exception cref="ConfigFormatException">A field is missing, of the wrong type or out of range.</exception>
    public static BertConfig Read(ConfigJson json) => Read(json, ModelConfigJsonContext.Default.BertConfig);

    /// <summary>Reads a BERT/RoBERTa config from a directory or file.</summary>
    public static BertConfig Load(string path) => Read(LoadJson(path));

    private protected override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.OneOf(ModelType, ["bert", "roberta"], nameof(ModelType), "model_type");
        check.Rank(VocabSize, nameof(VocabSize), "vocab_size");
        check.Rank(HiddenSize, nameof(HiddenSize), "hidden_size");
        check.Rank(NumHiddenLayers, nameof(NumHiddenLayers), "num_hidden_layers");
        check.Rank(NumAttentionHeads, nameof(NumAttentionHeads), "num_attention_heads");
        check.Rank(IntermediateSize, nameof(IntermediateSize), "intermediate_size");
        check.Rank(MaxPositionEmbeddings, nameof(MaxPositionEmbeddings), "max_position_embeddings");
        check.OneOf(PositionEmbeddingType, ["absolute"], nameof(PositionEmbeddingType), "position_embedding_type");
        check.Require(HiddenSize % NumAttentionHeads == 0, nameof(NumAttentionHeads), "num_attention_heads", $"a divisor of hidden_size {HiddenSize}", NumAttentionHeads);
        CheckActivation(check, HiddenAct, nameof(HiddenAct), "hidden_act");
    }
}
