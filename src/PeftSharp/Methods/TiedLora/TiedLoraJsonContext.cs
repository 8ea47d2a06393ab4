namespace PeftSharp.Methods.TiedLora;

/// <summary>Source-generated JSON contract of <see cref="TiedLoraConfig"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TiedLoraConfig))]
internal sealed partial class TiedLoraJsonContext : JsonSerializerContext;
