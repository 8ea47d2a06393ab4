namespace PeftSharp.IO.Json;

/// <summary>A JSON integer; a number with no fractional part (<c>8.0</c>) is accepted, as Python writes some.</summary>
internal sealed class IntegerConverter : JsonConverter<int>
{
    /// <inheritdoc />
    public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            if (reader.TryGetInt32(out var i))
            {
                return i;
            }

            if (reader.TryGetDouble(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
            {
                return (int)d;
            }
        }

        throw JsonFieldException.Expected("an integer", ref reader);
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}
