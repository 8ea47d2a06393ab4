using System.Text.Json.Serialization;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// A <c>rope_scaling</c> object (transformers v4) or <c>rope_parameters</c> object (v5, which also
/// carries <c>rope_theta</c>); the type is <c>rope_type</c> or, in older files, <c>type</c>.
/// </summary>
internal sealed record RopeParametersFile
{
    [JsonPropertyName("rope_type")]
    public string? RopeType { get; init; }

    [JsonPropertyName("type")]
    public string? Type { get; init; }

    [JsonPropertyName("rope_theta")]
    public double? RopeTheta { get; init; }

    [JsonPropertyName("factor")]
    public double? Factor { get; init; }

    [JsonPropertyName("low_freq_factor")]
    public double? LowFreqFactor { get; init; }

    [JsonPropertyName("high_freq_factor")]
    public double? HighFreqFactor { get; init; }

    [JsonPropertyName("original_max_position_embeddings")]
    public int? OriginalMaxPositionEmbeddings { get; init; }

    [JsonPropertyName("partial_rotary_factor")]
    public double? PartialRotaryFactor { get; init; }

    [JsonPropertyName("attention_factor")]
    public double? AttentionFactor { get; init; }
}
