using System.Text.Json.Serialization;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// The <c>config.json</c> fields of the decoder families as declared by transformers
/// (<c>LlamaConfig</c>, <c>MistralConfig</c>, <c>Qwen2Config</c>, <c>Qwen3Config</c>, <c>Phi3Config</c>);
/// null means absent. <see cref="DecoderConfig"/> applies the per-family defaults and checks.
/// </summary>
internal sealed record DecoderConfigFile
{
    [JsonPropertyName("vocab_size")]
    public int? VocabSize { get; init; }

    [JsonPropertyName("hidden_size")]
    public int? HiddenSize { get; init; }

    [JsonPropertyName("intermediate_size")]
    public int? IntermediateSize { get; init; }

    [JsonPropertyName("num_hidden_layers")]
    public int? NumHiddenLayers { get; init; }

    [JsonPropertyName("num_attention_heads")]
    public int? NumAttentionHeads { get; init; }

    [JsonPropertyName("num_key_value_heads")]
    public int? NumKeyValueHeads { get; init; }

    [JsonPropertyName("head_dim")]
    public int? HeadDim { get; init; }

    [JsonPropertyName("hidden_act")]
    public string? HiddenAct { get; init; }

    [JsonPropertyName("max_position_embeddings")]
    public int? MaxPositionEmbeddings { get; init; }

    [JsonPropertyName("rms_norm_eps")]
    public double? RmsNormEps { get; init; }

    [JsonPropertyName("rope_theta")]
    public double? RopeTheta { get; init; }

    [JsonPropertyName("rope_scaling")]
    public RopeParametersFile? RopeScaling { get; init; }

    [JsonPropertyName("rope_parameters")]
    public RopeParametersFile? RopeParameters { get; init; }

    [JsonPropertyName("partial_rotary_factor")]
    public double? PartialRotaryFactor { get; init; }

    [JsonPropertyName("attention_dropout")]
    public double? AttentionDropout { get; init; }

    [JsonPropertyName("attention_bias")]
    public bool? AttentionBias { get; init; }

    [JsonPropertyName("mlp_bias")]
    public bool? MlpBias { get; init; }

    [JsonPropertyName("tie_word_embeddings")]
    public bool? TieWordEmbeddings { get; init; }

    [JsonPropertyName("sliding_window")]
    public int? SlidingWindow { get; init; }

    [JsonPropertyName("use_sliding_window")]
    public bool? UseSlidingWindow { get; init; }

    [JsonPropertyName("max_window_layers")]
    public int? MaxWindowLayers { get; init; }

    [JsonPropertyName("layer_types")]
    public IReadOnlyList<string>? LayerTypes { get; init; }

    [JsonPropertyName("bos_token_id")]
    [JsonConverter(typeof(TokenIdListConverter))]
    public IReadOnlyList<int>? BosTokenId { get; init; }

    [JsonPropertyName("eos_token_id")]
    [JsonConverter(typeof(TokenIdListConverter))]
    public IReadOnlyList<int>? EosTokenId { get; init; }

    [JsonPropertyName("pad_token_id")]
    [JsonConverter(typeof(TokenIdListConverter))]
    public IReadOnlyList<int>? PadTokenId { get; init; }

    [JsonPropertyName("quantization_config")]
    public System.Text.Json.JsonElement? QuantizationConfig { get; init; }
}
