namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// Typed reads from a <see cref="JsonDocument"/> of an untrusted file: every failure becomes a
/// <see cref="ConfigFormatException"/> naming the file and the field (as a dotted path).
/// </summary>
internal sealed class JsonFieldReader
{
    /// <summary>
    /// The most steps a normalizer, pre-tokenizer or decoder chain may have: each step runs on every
    /// encode or decode (a streaming decoder decodes per id), so a chain of thousands multiplies all work.
    /// </summary>
    public const int MaxSteps = 32;

    public JsonFieldReader(string file) => File = file;

    /// <summary>The file name used in messages.</summary>
    public string File { get; }

    /// <summary>Parses <paramref name="utf8"/> as JSON (at most 128 levels, no repeated keys).</summary>
    public JsonDocument Parse(ReadOnlyMemory<byte> utf8)
    {
        try
        {
            var document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 128, AllowDuplicateProperties = false });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new ConfigFormatException(File, null, "expected a JSON object");
            }

            return document;
        }
        catch (JsonException e)
        {
            throw new ConfigFormatException(File, null, $"not valid JSON: {JsonErrorText.Describe(e)}", e);
        }
        catch (InvalidOperationException e)
        {
            // The check for repeated keys reads every key; an escaped lone surrogate is not valid text.
            throw new ConfigFormatException(File, null, $"a key is not valid text: {e.Message}", e);
        }
    }

    public ConfigFormatException Error(string field, string problem) => new(File, field, problem);

    /// <summary>
    /// The components of a chain field (normalizer, pre-tokenizer, decoder), in order: the element itself,
    /// or the leaves of a <c>Sequence</c> whose list is <paramref name="listName"/> (nested at most 8 deep),
    /// each with its field path and type. Lazy, so errors come in document order.
    /// </summary>
    public IEnumerable<(JsonElement Element, string Field, string Type)> Components(JsonElement element, string field, string listName, int depth = 0)
    {
        var type = Type(element, field);
        if (type != "Sequence")
        {
            yield return (element, field, type);
            yield break;
        }

        if (depth > 8)
        {
            throw Error(field, "sequences nested more than 8 deep");
        }

        var items = Array(Required(element, listName, field + "." + listName), field + "." + listName);
        var i = 0;
        foreach (var item in items.EnumerateArray())
        {
            foreach (var leaf in Components(item, $"{field}.{listName}[{i++}]", listName, depth + 1))
            {
                yield return leaf;
            }
        }
    }

    /// <summary>Refuses a chain of more than <see cref="MaxSteps"/> steps (each runs on every text).</summary>
    public void CheckStepCount(int steps, string field)
    {
        if (steps > MaxSteps)
        {
            throw Error(field, $"{steps} steps, more than the {MaxSteps} accepted (real files use at most 5)");
        }
    }

    /// <summary>The property <paramref name="name"/> of <paramref name="obj"/>, or null when absent or JSON null.</summary>
    public static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public JsonElement Required(JsonElement obj, string name, string field) =>
        Optional(obj, name) ?? throw Error(field, "missing");

    public JsonElement Object(JsonElement element, string field) =>
        element.ValueKind == JsonValueKind.Object ? element : throw Error(field, $"expected an object, found {Kind(element)}");

    public JsonElement Array(JsonElement element, string field) =>
        element.ValueKind == JsonValueKind.Array ? element : throw Error(field, $"expected an array, found {Kind(element)}");

    public string String(JsonElement element, string field)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            throw Error(field, $"expected a string, found {Kind(element)}");
        }

        try
        {
            return element.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigFormatException(File, field, "not valid text", e);
        }
    }

    public string? OptionalString(JsonElement obj, string name, string field) =>
        Optional(obj, name) is { } value ? String(value, field) : null;

    public bool Bool(JsonElement obj, string name, string field, bool fallback) => Optional(obj, name) switch
    {
        null => fallback,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        { } other => throw Error(field, $"expected true or false, found {Kind(other)}"),
    };

    public int Int(JsonElement element, string field, int min, int max)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var value))
        {
            throw Error(field, $"expected an integer, found {Kind(element)}");
        }

        return value >= min && value <= max ? value : throw Error(field, $"{value} is outside [{min}, {max}]");
    }

    public int OptionalInt(JsonElement obj, string name, string field, int fallback, int min, int max) =>
        Optional(obj, name) is { } value ? Int(value, field, min, max) : fallback;

    /// <summary>A property name, checked to be valid text.</summary>
    public string Name(JsonProperty property, string field)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigFormatException(File, field, "a key is not valid text", e);
        }
    }

    /// <summary>The <c>type</c> of a component object (normalizer, pre-tokenizer, decoder...).</summary>
    public string Type(JsonElement element, string field) =>
        String(Required(Object(element, field), "type", field + ".type"), field + ".type");

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
