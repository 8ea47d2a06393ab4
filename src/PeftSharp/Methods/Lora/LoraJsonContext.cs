using System.Text.Json.Serialization;

namespace PeftSharp.Methods.Lora;

/// <summary>Source-generated JSON contract of <see cref="LoraConfig"/>.</summary>
[JsonSerializable(typeof(LoraConfig))]
internal sealed partial class LoraJsonContext : JsonSerializerContext;
