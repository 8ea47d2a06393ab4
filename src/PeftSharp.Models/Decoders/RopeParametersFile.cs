namespace PeftSharp.Models.Decoders;

/// <summary>
/// A <c>rope_scaling</c> object (transformers v4) or <c>rope_parameters</c> object (v5, which also
/// carries <c>rope_theta</c>); the type is <c>rope_type</c> or, in older files, <c>type</c>.
/// </summary>
internal sealed record RopeParametersFile(
    string? RopeType = null,
    string? Type = null,
    double? RopeTheta = null,
    double? Factor = null,
    double? LowFreqFactor = null,
    double? HighFreqFactor = null,
    int? OriginalMaxPositionEmbeddings = null,
    double? PartialRotaryFactor = null,
    double? AttentionFactor = null);
