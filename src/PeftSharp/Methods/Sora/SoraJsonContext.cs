namespace PeftSharp.Methods.Sora;

/// <summary>Source-generated JSON contract of <see cref="SoraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SoraConfig))]
internal sealed partial class SoraJsonContext : JsonSerializerContext;
