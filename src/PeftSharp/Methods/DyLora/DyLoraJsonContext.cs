namespace PeftSharp.Methods.DyLora;

/// <summary>Source-generated JSON contract of <see cref="DyLoraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DyLoraConfig))]
internal sealed partial class DyLoraJsonContext : JsonSerializerContext;
