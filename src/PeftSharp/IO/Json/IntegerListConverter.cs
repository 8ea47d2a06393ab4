namespace PeftSharp.IO.Json;

/// <summary>PEFT's int-or-list fields (<c>layers_to_transform</c>): an integer reads as a one-element list; written as a list.</summary>
public sealed class IntegerListConverter : JsonConverter<IReadOnlyList<int>>
{
    private static readonly IntegerConverter Integer = new();

    /// <inheritdoc />
    public override IReadOnlyList<int> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return [Integer.Read(ref reader, typeof(int), options)];
        }

        var items = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            try
            {
                items.Add(Integer.Read(ref reader, typeof(int), options));
            }
            catch (JsonFieldException e)
            {
                throw new JsonFieldException(e.Message, $"[{items.Count}]");
            }
        }

        return items;
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, IReadOnlyList<int> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var item in value)
        {
            writer.WriteNumberValue(item);
        }

        writer.WriteEndArray();
    }
}
