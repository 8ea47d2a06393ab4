namespace PeftSharp.IO.Json;

/// <summary>A finite JSON number.</summary>
internal sealed class NumberConverter : JsonConverter<double>
{
    /// <inheritdoc />
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var d) && double.IsFinite(d)
            ? d
            : throw JsonFieldException.Expected("a number", ref reader);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}
