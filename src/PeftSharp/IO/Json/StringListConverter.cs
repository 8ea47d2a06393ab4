namespace PeftSharp.IO.Json;

/// <summary>A list of strings that also reads a single string (PEFT's <c>modules_to_save</c>); always written as a list.</summary>
public sealed class StringListConverter : StringOrListConverter
{
    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options) => WriteList(writer, value);
}
