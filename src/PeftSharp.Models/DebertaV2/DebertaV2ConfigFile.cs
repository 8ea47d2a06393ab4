namespace PeftSharp.Models;

/// <summary>
/// The declared JSON contract of a DeBERTa-v2/v3 <c>config.json</c> (Hugging Face <c>DebertaV2Config</c>
/// field names; the shared ones are in <see cref="TransformerConfigFile"/>). Null means the field was absent.
/// </summary>
internal sealed record DebertaV2ConfigFile : TransformerConfigFile
{
    public double? HiddenDropoutProb { get; init; }
    public double? AttentionProbsDropoutProb { get; init; }
    public int? TypeVocabSize { get; init; }
    public double? LayerNormEps { get; init; }
    public bool? RelativeAttention { get; init; }
    public int? MaxRelativePositions { get; init; }
    public int? PositionBuckets { get; init; }
    public int? PadTokenId { get; init; }
    public bool? PositionBiasedInput { get; init; }
    public JsonElement? PosAttType { get; init; }
    public bool? ShareAttKey { get; init; }
    public string? NormRelEbd { get; init; }
    public int? EmbeddingSize { get; init; }
    public int? AttentionHeadSize { get; init; }
    public int? PoolerHiddenSize { get; init; }
    public string? PoolerHiddenAct { get; init; }
    public double? PoolerDropout { get; init; }
    public double? ClsDropout { get; init; }
    public int? ConvKernelSize { get; init; }
    public int? ConvGroups { get; init; }
    public string? ConvAct { get; init; }
    public bool? Legacy { get; init; }
}
