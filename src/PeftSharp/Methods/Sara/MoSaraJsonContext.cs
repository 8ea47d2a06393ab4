namespace PeftSharp.Methods.Sara;

/// <summary>Source-generated JSON contract of <see cref="MoSaraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(MoSaraConfig))]
internal sealed partial class MoSaraJsonContext : JsonSerializerContext;
