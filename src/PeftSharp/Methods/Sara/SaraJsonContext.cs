using System.Text.Json.Serialization;

namespace PeftSharp.Methods.Sara;

/// <summary>Source-generated JSON contract of <see cref="SaraConfig"/>.</summary>
[JsonSerializable(typeof(SaraConfig))]
internal sealed partial class SaraJsonContext : JsonSerializerContext;
