using System.Text.Json.Serialization;

namespace PeftSharp.Methods.TiedLora;

/// <summary>Source-generated JSON contract of <see cref="TiedLoraConfig"/>.</summary>
[JsonSerializable(typeof(TiedLoraConfig))]
internal sealed partial class TiedLoraJsonContext : JsonSerializerContext;
