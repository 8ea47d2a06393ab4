namespace PeftSharp.Models.Decoders;

/// <summary>The <c>generation_config.json</c> fields PeftSharp reads.</summary>
internal sealed record GenerationConfigFile
{
    public IReadOnlyList<int>? EosTokenId { get; init; }
}
