namespace PeftSharp.Models;

/// <summary>BERT and RoBERTa (<c>model_type</c> <c>bert</c> or <c>roberta</c>).</summary>
public sealed class BertConfig : ModelConfig
{
    /// <summary>True for RoBERTa (position ids start after the padding index).</summary>
    [JsonIgnore]
    public bool IsRoberta => ModelType == "roberta";

    /// <summary>Vocabulary size.</summary>
    [Rank] public int VocabSize { get; set; } = 30522;

    /// <summary>Hidden size.</summary>
    [Rank] public int HiddenSize { get; set; } = 768;

    /// <summary>Number of layers.</summary>
    [Rank] public int NumHiddenLayers { get; set; } = 12;

    /// <summary>Attention heads.</summary>
    [Rank] public int NumAttentionHeads { get; set; } = 12;

    /// <summary>Feed-forward size.</summary>
    [Rank] public int IntermediateSize { get; set; } = 3072;

    /// <summary>Activation (<c>gelu</c>, <c>gelu_new</c>, <c>relu</c>, ...).</summary>
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
    [Rank] public int MaxPositionEmbeddings { get; set; } = 512;

    /// <summary>Token type table size.</summary>
    public int TypeVocabSize { get; set; } = 2;

    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; set; } = 1e-12;

    /// <summary>Hugging Face <c>pad_token_id</c> (null: 1 for RoBERTa, 0 for BERT).</summary>
    [JsonPropertyName("pad_token_id")]
    public int? PadTokenIdSetting { get; set; }

    /// <summary>Padding token id.</summary>
    [JsonIgnore]
    public int PadTokenId => PadTokenIdSetting ?? (IsRoberta ? 1 : 0);

    /// <summary>Hugging Face <c>position_embedding_type</c>; only <c>absolute</c> is supported.</summary>
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
        check.OneOf(PositionEmbeddingType, ["absolute"], nameof(PositionEmbeddingType), "position_embedding_type");
        check.Require(HiddenSize % NumAttentionHeads == 0, nameof(NumAttentionHeads), "num_attention_heads", $"a divisor of hidden_size {HiddenSize}", NumAttentionHeads);
        CheckActivation(check, HiddenAct, nameof(HiddenAct), "hidden_act");
    }
}
