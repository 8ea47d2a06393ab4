using System.Text.Json.Serialization;

namespace PeftSharp.Methods.Sora;

/// <summary>Source-generated JSON contract of <see cref="SoraConfig"/>.</summary>
[JsonSerializable(typeof(SoraConfig))]
internal sealed partial class SoraJsonContext : JsonSerializerContext;
