namespace PeftSharp.Methods.Lora;

/// <summary>Source-generated JSON contract of <see cref="LoraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LoraConfig))]
internal sealed partial class LoraJsonContext : JsonSerializerContext;
