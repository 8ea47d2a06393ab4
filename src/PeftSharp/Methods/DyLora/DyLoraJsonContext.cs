using System.Text.Json.Serialization;

namespace PeftSharp.Methods.DyLora;

/// <summary>Source-generated JSON contract of <see cref="DyLoraConfig"/>.</summary>
[JsonSerializable(typeof(DyLoraConfig))]
internal sealed partial class DyLoraJsonContext : JsonSerializerContext;
