namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// The <c>decoder</c> of a tokenizer.json: a chain of rewrites of the token list (ByteLevel, Replace,
/// ByteFallback, Fuse, Strip, Metaspace, Sequence) whose result is concatenated. Without a decoder
/// the tokens are joined with spaces, as Hugging Face's library does.
/// </summary>
internal sealed class HfDecoder
{
    private readonly IReadOnlyList<Func<List<string>, List<string>>>? _steps;

    private HfDecoder(IReadOnlyList<Func<List<string>, List<string>>>? steps) => _steps = steps;

    /// <summary>The text of <paramref name="tokens"/>.</summary>
    public string Decode(List<string> tokens)
    {
        if (_steps is null)
        {
            return string.Join(' ', tokens);
        }

        foreach (var step in _steps)
        {
            tokens = step(tokens);
        }

        return string.Concat(tokens);
    }

    /// <summary>Reads a decoder object (null: join with spaces).</summary>
    public static HfDecoder Parse(JsonElement? element, JsonFieldReader reader, string field)
    {
        if (element is not { } value)
        {
            return new HfDecoder(null);
        }

        var steps = new List<Func<List<string>, List<string>>>();
        foreach (var (component, componentField, type) in reader.Components(value, field, "decoders"))
        {
            AddStep(component, reader, componentField, type, steps);
        }

        reader.CheckStepCount(steps.Count, field);

        return new HfDecoder(steps);
    }

    private static void AddStep(JsonElement element, JsonFieldReader reader, string field, string type, List<Func<List<string>, List<string>>> steps)
    {
        switch (type)
        {
            case "ByteLevel":
                steps.Add(ByteLevel);
                break;
            case "Replace":
                var splitter = HfNormalizer.ReadPattern(element, reader, field);
                var content = HfNormalizer.Inserted(reader, reader.String(reader.Required(element, "content", field + ".content"), field + ".content"), field + ".content");
                steps.Add(tokens => tokens.Select(t => HfNormalizer.Replace(t, splitter, content)).ToList());
                break;
            case "ByteFallback":
                steps.Add(ByteFallback);
                break;
            case "Fuse":
                steps.Add(tokens => [string.Concat(tokens)]);
                break;
            case "Strip":
                var strip = reader.String(reader.Required(element, "content", field + ".content"), field + ".content");
                if (strip.Length != 1)
                {
                    throw reader.Error(field + ".content", "expected one character");
                }

                var start = reader.OptionalInt(element, "start", field + ".start", 0, 0, 1 << 20);
                var stop = reader.OptionalInt(element, "stop", field + ".stop", 0, 0, 1 << 20);
                steps.Add(tokens => tokens.Select(t => Strip(t, strip[0], start, stop)).ToList());
                break;
            case "Metaspace":
                var replacement = reader.OptionalString(element, "replacement", field + ".replacement") ?? "▁";
                if (replacement.Length != 1)
                {
                    throw reader.Error(field + ".replacement", "expected one character");
                }

                var scheme = reader.OptionalString(element, "prepend_scheme", field + ".prepend_scheme")
                    ?? (reader.Bool(element, "add_prefix_space", field + ".add_prefix_space", true) ? "always" : "never");
                if (scheme is not ("always" or "first" or "never"))
                {
                    throw reader.Error(field + ".prepend_scheme", $"'{scheme}' is not always, first or never");
                }

                steps.Add(tokens => tokens.Select((t, index) =>
                {
                    var text = t.Replace(replacement, " ", StringComparison.Ordinal);
                    return index == 0 && scheme != "never" && text.StartsWith(' ') ? text[1..] : text;
                }).ToList());
                break;
            default:
                throw reader.Error(field + ".type", $"decoder '{type}' is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)");
        }
    }

    /// <summary>Each token's characters back to bytes (a token outside the alphabet stays as its UTF-8); invalid UTF-8 becomes U+FFFD.</summary>
    private static List<string> ByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            bytes.AddRange(ByteLevelAlphabet.Decode(token) ?? Encoding.UTF8.GetBytes(token));
        }

        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }

    /// <summary>Runs of <c>&lt;0xNN&gt;</c> tokens become their UTF-8 text, or one U+FFFD per byte when invalid.</summary>
    private static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var token in tokens)
        {
            if (ByteOf(token) is { } value)
            {
                pending.Add(value);
                continue;
            }

            Flush(pending, result);
            result.Add(token);
        }

        Flush(pending, result);
        return result;
    }

    private static void Flush(List<byte> pending, List<string> result)
    {
        if (pending.Count == 0)
        {
            return;
        }

        try
        {
            result.Add(StrictUtf8.GetString(pending.ToArray()));
        }
        catch (DecoderFallbackException)
        {
            result.AddRange(Enumerable.Repeat("\uFFFD", pending.Count));
        }

        pending.Clear();
    }

    private static readonly Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

    /// <summary>The byte of a <c>&lt;0xNN&gt;</c> token, or null.</summary>
    internal static byte? ByteOf(string token) =>
        token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
        && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;

    private static string Strip(string token, char content, int start, int stop)
    {
        var from = 0;
        while (from < start && from < token.Length && token[from] == content)
        {
            from++;
        }

        var to = token.Length;
        while (token.Length - to < stop && to > from && token[to - 1] == content)
        {
            to--;
        }

        return token[from..to];
    }
}
