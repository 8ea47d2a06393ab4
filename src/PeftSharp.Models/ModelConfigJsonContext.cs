namespace PeftSharp.Models;

/// <summary>Source-generated JSON contracts of the model families' <c>config.json</c>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(BertConfig))]
[JsonSerializable(typeof(Gpt2Config))]
[JsonSerializable(typeof(CommonModelConfig))]
internal sealed partial class ModelConfigJsonContext : JsonSerializerContext;
