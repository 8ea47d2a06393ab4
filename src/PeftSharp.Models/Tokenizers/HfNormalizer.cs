namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// The <c>normalizer</c> of a tokenizer.json as a chain of text rewrites: NFC, NFD, NFKC, NFKD,
/// Lowercase, Prepend, Replace, Strip, StripAccents and Sequence of these.
/// </summary>
internal sealed class HfNormalizer
{
    private readonly IReadOnlyList<Func<string, string>> _steps;

    private HfNormalizer(IReadOnlyList<Func<string, string>> steps) => _steps = steps;

    /// <summary>The normalizer that leaves text unchanged (tokenizer.json's <c>"normalizer": null</c>).</summary>
    public static HfNormalizer Identity { get; } = new([]);

    /// <summary>Applies every step in order.</summary>
    public string Normalize(string text)
    {
        foreach (var step in _steps)
        {
            text = step(text);
        }

        return text;
    }

    /// <summary>Reads a normalizer object (null: identity).</summary>
    public static HfNormalizer Parse(JsonElement? element, JsonFieldReader reader, string field)
    {
        var steps = new List<Func<string, string>>();
        if (element is { } value)
        {
            foreach (var (component, componentField, type) in reader.Components(value, field, "normalizers"))
            {
                AddStep(component, reader, componentField, type, steps);
            }

            reader.CheckStepCount(steps.Count, field);
        }

        return new HfNormalizer(steps);
    }

    private static void AddStep(JsonElement element, JsonFieldReader reader, string field, string type, List<Func<string, string>> steps)
    {
        switch (type)
        {
            case "NFC":
                steps.Add(text => text.Normalize(NormalizationForm.FormC));
                break;
            case "NFD":
                steps.Add(text => text.Normalize(NormalizationForm.FormD));
                break;
            case "NFKC":
                steps.Add(text => text.Normalize(NormalizationForm.FormKC));
                break;
            case "NFKD":
                steps.Add(text => text.Normalize(NormalizationForm.FormKD));
                break;
            case "Lowercase":
                steps.Add(text => text.ToLowerInvariant());
                break;
            case "StripAccents":
                steps.Add(StripAccents);
                break;
            case "Strip":
                var left = reader.Bool(element, "strip_left", field + ".strip_left", true);
                var right = reader.Bool(element, "strip_right", field + ".strip_right", true);
                steps.Add(text => left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text);
                break;
            case "Prepend":
                var prepend = Inserted(reader, reader.String(reader.Required(element, "prepend", field + ".prepend"), field + ".prepend"), field + ".prepend");
                steps.Add(text => text.Length == 0 ? text : prepend + text);
                break;
            case "Replace":
                var splitter = ReadPattern(element, reader, field);
                var content = Inserted(reader, reader.String(reader.Required(element, "content", field + ".content"), field + ".content"), field + ".content");
                steps.Add(text => Replace(text, splitter, content));
                break;
            default:
                throw reader.Error(field + ".type", $"normalizer '{type}' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Prepend, Replace)");
        }
    }

    /// <summary>Reads <c>pattern</c>: <c>{"String": "..."}</c> (literal) or <c>{"Regex": "..."}</c>.</summary>
    internal static RegexSplitter ReadPattern(JsonElement element, JsonFieldReader reader, string field)
    {
        var pattern = reader.Object(reader.Required(element, "pattern", field + ".pattern"), field + ".pattern");
        if (JsonFieldReader.Optional(pattern, "String") is { } literal)
        {
            var text = reader.String(literal, field + ".pattern.String");
            return RegexSplitter.Create(text, literal: true, reader.File, field + ".pattern.String");
        }

        if (JsonFieldReader.Optional(pattern, "Regex") is { } regex)
        {
            var text = reader.String(regex, field + ".pattern.Regex");
            return RegexSplitter.Create(text, literal: false, reader.File, field + ".pattern.Regex");
        }

        throw reader.Error(field + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
    }

    /// <summary>The most characters a normalizer or decoder step may insert (real tokenizers insert one, such as "▁").</summary>
    internal const int MaxInsertedLength = 256;

    /// <summary>
    /// <paramref name="text"/>, checked as text a step inserts: a longer one multiplies every input's
    /// length (the fuzzer found a 10,000-character prepend making a 19 KB file allocate 171 MB).
    /// </summary>
    internal static string Inserted(JsonFieldReader reader, string text, string field) =>
        text.Length <= MaxInsertedLength
            ? text
            : throw reader.Error(field, $"{text.Length} characters to insert, more than the {MaxInsertedLength} accepted");

    /// <summary>Replaces every match of <paramref name="splitter"/> in <paramref name="text"/> with <paramref name="content"/>.</summary>
    internal static string Replace(string text, RegexSplitter splitter, string content)
    {
        if (splitter.Literal is { } literal)
        {
            return text.Replace(literal, content, StringComparison.Ordinal);
        }

        var builder = new StringBuilder(text.Length);
        foreach (var (start, end, isMatch) in splitter.Spans(text))
        {
            if (isMatch)
            {
                builder.Append(content);
            }
            else
            {
                builder.Append(text, start, end - start);
            }
        }

        return builder.ToString();
    }

    private static string StripAccents(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
