namespace PeftSharp.Methods.Sara;

/// <summary>Source-generated JSON contract of <see cref="SaraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SaraConfig))]
internal sealed partial class SaraJsonContext : JsonSerializerContext;
