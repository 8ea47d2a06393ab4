using System.Text.Json.Serialization;

namespace PeftSharp.Methods.AdaLora;

/// <summary>Source-generated JSON contract of <see cref="AdaLoraConfig"/>.</summary>
[JsonSerializable(typeof(AdaLoraConfig))]
internal sealed partial class AdaLoraJsonContext : JsonSerializerContext;
