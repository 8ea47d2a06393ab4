using System.Buffers;

namespace PeftSharp.IO.Json;

/// <summary>Short descriptions of JSON values for error messages (<c>the string "eight"</c>, <c>a list</c>, <c>-3</c>).</summary>
internal static class JsonTokenText
{
    /// <summary>Describes the token at <paramref name="reader"/>.</summary>
    public static string Describe(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "a list",
        JsonTokenType.Null => "null",
        JsonTokenType.String => Quote(reader.GetString()!),
        _ => Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan),
    };

    /// <summary>Describes <paramref name="node"/>.</summary>
    public static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "a list",
        JsonValue v when v.TryGetValue<string>(out var s) => Quote(s),
        _ => node.ToJsonString(),
    };

    private static string Quote(string s) => $"the string \"{(s.Length > 40 ? s[..40] + "…" : s)}\"";
}
