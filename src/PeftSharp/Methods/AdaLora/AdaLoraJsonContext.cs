namespace PeftSharp.Methods.AdaLora;

/// <summary>Source-generated JSON contract of <see cref="AdaLoraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(AdaLoraConfig))]
internal sealed partial class AdaLoraJsonContext : JsonSerializerContext;
