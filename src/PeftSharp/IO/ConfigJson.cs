namespace PeftSharp.IO;

/// <summary>A configuration file (adapter_config.json, run config, ...) that is malformed.</summary>
public sealed class ConfigFormatException : PeftException
{
    /// <summary>Creates the exception for <paramref name="path"/>, field <paramref name="field"/> (null: the whole file).</summary>
    public ConfigFormatException(string path, string? field, string problem, Exception? innerException = null)
        : base(field is null ? $"{path}: {problem}" : $"{path}: field '{field}': {problem}", innerException)
    {
        FilePath = path;
        Field = field;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>The offending field, or null.</summary>
    public string? Field { get; }
}

/// <summary>
/// Reads typed fields from a JSON object with errors that name the file, the field and what was
/// expected, and remembers which fields were read so the rest can be kept and reported.
/// </summary>
public sealed class ConfigJson
{
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    /// <summary>Wraps <paramref name="root"/>, read from <paramref name="path"/>.</summary>
    public ConfigJson(JsonObject root, string path)
    {
        Root = root;
        Path = path;
    }

    /// <summary>The JSON object.</summary>
    public JsonObject Root { get; }

    /// <summary>The file it came from (for messages).</summary>
    public string Path { get; }

    /// <summary>Parses a file that must hold one JSON object.</summary>
    /// <exception cref="ConfigFormatException">The file is not a JSON object.</exception>
    public static ConfigJson Load(string path) => Parse(ReadBytes(path), path);

    /// <summary>
    /// The records of a JSON Lines file, one object per non-blank line (a leading byte-order mark is
    /// dropped), each parsed as <see cref="Parse"/> does and named <c>path:line</c> in its errors.
    /// </summary>
    /// <exception cref="ConfigFormatException">The file does not exist, or a line is not such an object.</exception>
    public static IEnumerable<ConfigJson> ReadLines(string path) => Records(ReadBytes(path), path);

    private static byte[] ReadBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new ConfigFormatException(path, null, "the file does not exist", e);
        }
    }

    private static IEnumerable<ConfigJson> Records(byte[] bytes, string path)
    {
        var start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        for (var number = 1; start <= bytes.Length; number++)
        {
            var end = Array.IndexOf(bytes, (byte)'\n', start);
            end = end < 0 ? bytes.Length : end;
            var line = bytes.AsMemory(start, end - start);
            start = end + 1;
            if (line.Span.Trim(" \t\r"u8).Length > 0)
            {
                yield return Parse(line.Span, $"{path}:{number}");
            }
        }
    }

    /// <summary>Parses UTF-8 JSON that must be one object, at most 64 levels deep, with no key repeated within an object.</summary>
    /// <exception cref="ConfigFormatException">The bytes are not such JSON.</exception>
    public static ConfigJson Parse(ReadOnlySpan<byte> utf8, string path)
    {
        try
        {
            CheckStrings(utf8, path);

            // A repeated key would otherwise surface later, untyped, when the object is first read.
            var node = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { MaxDepth = 64, AllowDuplicateProperties = false });
            return node is JsonObject root
                ? new ConfigJson(root, path)
                : throw new ConfigFormatException(path, null, $"expected a JSON object, found {Kind(node)}");
        }
        catch (JsonException e)
        {
            throw new ConfigFormatException(path, null, $"not valid JSON: {JsonErrorText.Describe(e, singleLine: !utf8.Contains((byte)'\n'))}", e);
        }
    }

    /// <summary>
    /// Refuses strings (keys and values) that are not valid text: invalid UTF-8 or an escaped lone
    /// surrogate (<c>"\ud800"</c>). JsonNode checks them only when a string is first read, and then
    /// throws <see cref="InvalidOperationException"/>; this reads every string once, up front.
    /// </summary>
    private static void CheckStrings(ReadOnlySpan<byte> utf8, string path)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64 });
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName))
            {
                continue;
            }

            try
            {
                _ = reader.GetString();
            }
            catch (InvalidOperationException e)
            {
                throw new ConfigFormatException(path, null, $"the {(reader.TokenType == JsonTokenType.String ? "string" : "key")} at {JsonErrorText.Position(utf8, reader.TokenStartIndex)} is not valid text: {e.Message}", e);
            }
        }
    }

    /// <summary>The fields that no getter has read, with their values.</summary>
    public IEnumerable<KeyValuePair<string, JsonNode?>> Unread() => Root.Where(p => !_read.Contains(p.Key));

    /// <summary>True when the field is present and not null.</summary>
    public bool Has(string field) => Root[field] is not null;

    /// <summary>Marks a field as handled without reading it (fields that are ignored on purpose).</summary>
    public void Ignore(string field) => _read.Add(field);

    /// <summary>The raw node of a field (null when absent or null).</summary>
    public JsonNode? Node(string field)
    {
        _read.Add(field);
        return Root[field];
    }

    /// <summary>A string field, or <paramref name="fallback"/> when absent or null.</summary>
    public string? String(string field, string? fallback = null) => Node(field) switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        var other => throw Expected(field, "a string", other),
    };

    /// <summary>A boolean field, or <paramref name="fallback"/>.</summary>
    public bool Bool(string field, bool fallback) => Node(field) switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        var other => throw Expected(field, "true or false", other),
    };

    /// <summary>An integer field, or <paramref name="fallback"/>.</summary>
    public int Int(string field, int fallback) => Node(field) switch
    {
        null => fallback,
        var node => AsInt(field, node),
    };

    /// <summary>A number field, or <paramref name="fallback"/>.</summary>
    public double Double(string field, double fallback) => Node(field) switch
    {
        null => fallback,
        var node => AsDouble(field, node),
    };

    /// <summary>A list of strings; a single string becomes a one-element list; null when absent.</summary>
    public List<string>? Strings(string field) => Node(field) switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => [s],
        JsonArray array => array.Select((item, i) => item is JsonValue iv && iv.TryGetValue<string>(out var s)
            ? s
            : throw Expected($"{field}[{i}]", "a string", item)).ToList(),
        var other => throw Expected(field, "a string or a list of strings", other),
    };

    /// <summary>A list of integers; a single integer becomes a one-element list; null when absent.</summary>
    public List<int>? Ints(string field) => Node(field) switch
    {
        null => null,
        JsonArray array => array.Select((item, i) => AsInt($"{field}[{i}]", item)).ToList(),
        var node => [AsInt(field, node)],
    };

    /// <summary>An object of integers (PEFT's rank_pattern), keeping the file's key order; empty when absent.</summary>
    public OrderedDictionary<string, int> IntMap(string field) => Map(field, AsInt);

    /// <summary>An object of numbers (PEFT's alpha_pattern), keeping key order; empty when absent.</summary>
    public OrderedDictionary<string, double> DoubleMap(string field) => Map(field, AsDouble);

    /// <summary>An error for field <paramref name="field"/>.</summary>
    public ConfigFormatException Error(string field, string problem) => new(Path, field, problem);

    private OrderedDictionary<string, T> Map<T>(string field, Func<string, JsonNode?, T> convert)
    {
        var result = new OrderedDictionary<string, T>(StringComparer.Ordinal);
        switch (Node(field))
        {
            case null:
                return result;
            case JsonObject map:
                foreach (var (key, value) in map)
                {
                    result[key] = convert($"{field}.{key}", value);
                }

                return result;
            case var other:
                throw Expected(field, "an object", other);
        }
    }

    private int AsInt(string field, JsonNode? node)
    {
        if (node is JsonValue v)
        {
            if (v.TryGetValue<int>(out var i))
            {
                return i;
            }

            if (v.TryGetValue<double>(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
            {
                return (int)d;
            }
        }

        throw Expected(field, "an integer", node);
    }

    private double AsDouble(string field, JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : throw Expected(field, "a number", node);

    private ConfigFormatException Expected(string field, string expected, JsonNode? found) =>
        new(Path, field, $"expected {expected}, found {Kind(found)}");

    private static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "a list",
        JsonValue v when v.TryGetValue<string>(out var s) => $"the string \"{(s.Length > 40 ? s[..40] + "…" : s)}\"",
        JsonValue v => v.ToJsonString(),
        _ => node.GetType().Name,
    };
}
