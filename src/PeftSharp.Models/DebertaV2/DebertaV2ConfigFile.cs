using System.Text.Json;
using System.Text.Json.Serialization;

namespace PeftSharp.Models;

/// <summary>
/// The declared JSON contract of a DeBERTa-v2/v3 <c>config.json</c> (Hugging Face <c>DebertaV2Config</c>
/// field names and defaults). Null means the field was absent.
/// </summary>
internal sealed class DebertaV2ConfigFile
{
    [JsonPropertyName("vocab_size")] public int? VocabSize { get; set; }
    [JsonPropertyName("hidden_size")] public int? HiddenSize { get; set; }
    [JsonPropertyName("num_hidden_layers")] public int? NumHiddenLayers { get; set; }
    [JsonPropertyName("num_attention_heads")] public int? NumAttentionHeads { get; set; }
    [JsonPropertyName("intermediate_size")] public int? IntermediateSize { get; set; }
    [JsonPropertyName("hidden_act")] public string? HiddenAct { get; set; }
    [JsonPropertyName("hidden_dropout_prob")] public double? HiddenDropoutProb { get; set; }
    [JsonPropertyName("attention_probs_dropout_prob")] public double? AttentionProbsDropoutProb { get; set; }
    [JsonPropertyName("max_position_embeddings")] public int? MaxPositionEmbeddings { get; set; }
    [JsonPropertyName("type_vocab_size")] public int? TypeVocabSize { get; set; }
    [JsonPropertyName("layer_norm_eps")] public double? LayerNormEps { get; set; }
    [JsonPropertyName("relative_attention")] public bool? RelativeAttention { get; set; }
    [JsonPropertyName("max_relative_positions")] public int? MaxRelativePositions { get; set; }
    [JsonPropertyName("position_buckets")] public int? PositionBuckets { get; set; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; set; }
    [JsonPropertyName("position_biased_input")] public bool? PositionBiasedInput { get; set; }
    [JsonPropertyName("pos_att_type")] public JsonElement? PosAttType { get; set; }
    [JsonPropertyName("share_att_key")] public bool? ShareAttKey { get; set; }
    [JsonPropertyName("norm_rel_ebd")] public string? NormRelEbd { get; set; }
    [JsonPropertyName("embedding_size")] public int? EmbeddingSize { get; set; }
    [JsonPropertyName("attention_head_size")] public int? AttentionHeadSize { get; set; }
    [JsonPropertyName("pooler_hidden_size")] public int? PoolerHiddenSize { get; set; }
    [JsonPropertyName("pooler_hidden_act")] public string? PoolerHiddenAct { get; set; }
    [JsonPropertyName("pooler_dropout")] public double? PoolerDropout { get; set; }
    [JsonPropertyName("cls_dropout")] public double? ClsDropout { get; set; }
    [JsonPropertyName("conv_kernel_size")] public int? ConvKernelSize { get; set; }
    [JsonPropertyName("conv_groups")] public int? ConvGroups { get; set; }
    [JsonPropertyName("conv_act")] public string? ConvAct { get; set; }
    [JsonPropertyName("legacy")] public bool? Legacy { get; set; }
}
