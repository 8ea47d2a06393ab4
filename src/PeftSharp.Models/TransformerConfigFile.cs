namespace PeftSharp.Models;

/// <summary>
/// The <c>config.json</c> fields that transformers' encoder and decoder configurations name alike, read as
/// declared (null means absent); a family's file contract adds its own and its reader applies the defaults.
/// </summary>
internal abstract record TransformerConfigFile
{
    public int? VocabSize { get; init; }

    public int? HiddenSize { get; init; }

    public int? IntermediateSize { get; init; }

    public int? NumHiddenLayers { get; init; }

    public int? NumAttentionHeads { get; init; }

    public string? HiddenAct { get; init; }

    public int? MaxPositionEmbeddings { get; init; }
}
