using System.Text.Json.Serialization;

namespace PeftSharp.Models.Decoders;

/// <summary>The <c>generation_config.json</c> fields PeftSharp reads.</summary>
internal sealed record GenerationConfigFile
{
    [JsonPropertyName("eos_token_id")]
    [JsonConverter(typeof(TokenIdListConverter))]
    public IReadOnlyList<int>? EosTokenId { get; init; }
}
