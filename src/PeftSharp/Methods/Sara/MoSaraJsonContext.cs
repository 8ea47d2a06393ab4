using System.Text.Json.Serialization;

namespace PeftSharp.Methods.Sara;

/// <summary>Source-generated JSON contract of <see cref="MoSaraConfig"/>.</summary>
[JsonSerializable(typeof(MoSaraConfig))]
internal sealed partial class MoSaraJsonContext : JsonSerializerContext;
