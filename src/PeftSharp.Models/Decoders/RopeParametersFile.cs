using System.Text.Json.Serialization;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// A <c>rope_scaling</c> object (transformers v4) or <c>rope_parameters</c> object (v5, which also
/// carries <c>rope_theta</c>); the type is <c>rope_type</c> or, in older files, <c>type</c>.
/// </summary>
internal sealed record RopeParametersFile(
    [property: JsonPropertyName("rope_type")] string? RopeType = null,
    [property: JsonPropertyName("type")] string? Type = null,
    [property: JsonPropertyName("rope_theta")] double? RopeTheta = null,
    [property: JsonPropertyName("factor")] double? Factor = null,
    [property: JsonPropertyName("low_freq_factor")] double? LowFreqFactor = null,
    [property: JsonPropertyName("high_freq_factor")] double? HighFreqFactor = null,
    [property: JsonPropertyName("original_max_position_embeddings")] int? OriginalMaxPositionEmbeddings = null,
    [property: JsonPropertyName("partial_rotary_factor")] double? PartialRotaryFactor = null,
    [property: JsonPropertyName("attention_factor")] double? AttentionFactor = null);
