namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// The single-sequence part of a tokenizer.json <c>post_processor</c>: the special tokens put before
/// and after the encoded text. Supports TemplateProcessing, BertProcessing, RobertaProcessing,
/// ByteLevel (adds nothing) and Sequence.
/// </summary>
internal sealed class HfPostProcessor
{
    public HfPostProcessor(IReadOnlyList<(int Id, string Token)> prefix, IReadOnlyList<(int Id, string Token)> suffix)
    {
        Prefix = prefix;
        Suffix = suffix;
    }

    /// <summary>The tokens before the text.</summary>
    public IReadOnlyList<(int Id, string Token)> Prefix { get; }

    /// <summary>The tokens after the text.</summary>
    public IReadOnlyList<(int Id, string Token)> Suffix { get; }

    /// <summary>Reads a post-processor object (null: adds nothing).</summary>
    public static HfPostProcessor Parse(JsonElement? element, JsonFieldReader reader, string field)
    {
        var prefix = new List<(int, string)>();
        var suffix = new List<(int, string)>();
        if (element is { } value)
        {
            Add(value, reader, field, prefix, suffix, depth: 0);
        }

        return new HfPostProcessor(prefix, suffix);
    }

    private static void Add(JsonElement element, JsonFieldReader reader, string field, List<(int, string)> prefix, List<(int, string)> suffix, int depth)
    {
        var type = reader.Type(element, field);
        switch (type)
        {
            case "Sequence":
                if (depth > 8)
                {
                    throw reader.Error(field, "sequences nested more than 8 deep");
                }

                var items = reader.Array(reader.Required(element, "processors", field + ".processors"), field + ".processors");
                var i = 0;
                foreach (var item in items.EnumerateArray())
                {
                    // Each processor wraps the output of the previous one.
                    var innerPrefix = new List<(int, string)>();
                    var innerSuffix = new List<(int, string)>();
                    Add(item, reader, $"{field}.processors[{i++}]", innerPrefix, innerSuffix, depth + 1);
                    prefix.InsertRange(0, innerPrefix);
                    suffix.AddRange(innerSuffix);
                }

                break;
            case "ByteLevel":
                break;
            case "BertProcessing" or "RobertaProcessing":
                prefix.Add(Pair(element, "cls", reader, field));
                suffix.Add(Pair(element, "sep", reader, field));
                break;
            case "TemplateProcessing":
                Template(element, reader, field, prefix, suffix);
                break;
            default:
                throw reader.Error(field + ".type", $"post-processor '{type}' is not supported (supported: Sequence, ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing)");
        }
    }

    private static (int, string) Pair(JsonElement element, string name, JsonFieldReader reader, string field)
    {
        var pair = reader.Array(reader.Required(element, name, $"{field}.{name}"), $"{field}.{name}");
        if (pair.GetArrayLength() != 2)
        {
            throw reader.Error($"{field}.{name}", "expected [token, id]");
        }

        return (reader.Int(pair[1], $"{field}.{name}[1]", 0, BpeModel.MaxId - 1), reader.String(pair[0], $"{field}.{name}[0]"));
    }

    private static void Template(JsonElement element, JsonFieldReader reader, string field, List<(int, string)> prefix, List<(int, string)> suffix)
    {
        var specials = reader.Object(reader.Required(element, "special_tokens", field + ".special_tokens"), field + ".special_tokens");
        var single = reader.Array(reader.Required(element, "single", field + ".single"), field + ".single");
        var seenSequence = false;
        var index = 0;
        foreach (var item in single.EnumerateArray())
        {
            var at = $"{field}.single[{index++}]";
            reader.Object(item, at);
            if (JsonFieldReader.Optional(item, "Sequence") is { } sequence)
            {
                var id = reader.String(reader.Required(reader.Object(sequence, at + ".Sequence"), "id", at + ".Sequence.id"), at + ".Sequence.id");
                if (id != "A" || seenSequence)
                {
                    throw reader.Error(at + ".Sequence.id", $"a single-sequence template holds sequence A once, found '{id}'");
                }

                seenSequence = true;
                continue;
            }

            var special = reader.Object(reader.Required(item, "SpecialToken", at + ".SpecialToken"), at + ".SpecialToken");
            var name = reader.String(reader.Required(special, "id", at + ".SpecialToken.id"), at + ".SpecialToken.id");
            var entryField = $"{field}.special_tokens.{name}";
            var entry = reader.Object(JsonFieldReader.Optional(specials, name) ?? throw reader.Error(at + ".SpecialToken.id", $"'{name}' is not in special_tokens"), entryField);
            var ids = reader.Array(reader.Required(entry, "ids", entryField + ".ids"), entryField + ".ids");
            var tokens = reader.Array(reader.Required(entry, "tokens", entryField + ".tokens"), entryField + ".tokens");
            if (ids.GetArrayLength() != tokens.GetArrayLength())
            {
                throw reader.Error(entryField, "ids and tokens differ in length");
            }

            var target = seenSequence ? suffix : prefix;
            for (var i = 0; i < ids.GetArrayLength(); i++)
            {
                target.Add((reader.Int(ids[i], $"{entryField}.ids[{i}]", 0, BpeModel.MaxId - 1), reader.String(tokens[i], $"{entryField}.tokens[{i}]")));
            }
        }

        if (!seenSequence)
        {
            throw reader.Error(field + ".single", "the template has no sequence A");
        }
    }
}
