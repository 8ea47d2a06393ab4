namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// What <see cref="HfTokenizer"/> reads from tokenizer_config.json: the special-token strings
/// (<c>bos_token</c>, <c>eos_token</c>, <c>pad_token</c>, <c>unk_token</c> as strings or
/// <c>{"content": ...}</c> objects), <c>add_bos_token</c>/<c>add_eos_token</c>,
/// <c>clean_up_tokenization_spaces</c> and <c>added_tokens_decoder</c>.
/// </summary>
internal sealed class HfTokenizerConfig
{
    public string? BosToken { get; private init; }

    public string? EosToken { get; private init; }

    public string? PadToken { get; private init; }

    public string? UnkToken { get; private init; }

    /// <summary>The file's <c>add_bos_token</c>, or null when it does not set it.</summary>
    public bool? AddBosToken { get; private init; }

    /// <summary>The file's <c>add_eos_token</c>, or null when it does not set it.</summary>
    public bool? AddEosToken { get; private init; }

    public bool CleanUpTokenizationSpaces { get; private init; }

    public IReadOnlyList<HfAddedToken> AddedTokensDecoder { get; private init; } = [];

    /// <summary>The configuration of a directory without tokenizer_config.json.</summary>
    public static HfTokenizerConfig Empty { get; } = new();

    public static HfTokenizerConfig Parse(ReadOnlyMemory<byte> utf8, string file)
    {
        var reader = new JsonFieldReader(file);
        using var document = reader.Parse(utf8);
        var root = document.RootElement;
        return new HfTokenizerConfig
        {
            BosToken = SpecialToken(root, "bos_token", reader),
            EosToken = SpecialToken(root, "eos_token", reader),
            PadToken = SpecialToken(root, "pad_token", reader),
            UnkToken = SpecialToken(root, "unk_token", reader),
            AddBosToken = JsonFieldReader.Optional(root, "add_bos_token") is null ? null : reader.Bool(root, "add_bos_token", "add_bos_token", false),
            AddEosToken = JsonFieldReader.Optional(root, "add_eos_token") is null ? null : reader.Bool(root, "add_eos_token", "add_eos_token", false),
            CleanUpTokenizationSpaces = reader.Bool(root, "clean_up_tokenization_spaces", "clean_up_tokenization_spaces", false),
            AddedTokensDecoder = AddedTokens(root, reader),
        };
    }

    /// <summary>A special token given as a string or as an object with <c>content</c>.</summary>
    private static string? SpecialToken(JsonElement root, string name, JsonFieldReader reader) => JsonFieldReader.Optional(root, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } value => reader.String(value, name),
        { ValueKind: JsonValueKind.Object } value => reader.String(reader.Required(value, "content", name + ".content"), name + ".content"),
        _ => throw reader.Error(name, "expected a string or an object with content"),
    };

    private static List<HfAddedToken> AddedTokens(JsonElement root, JsonFieldReader reader)
    {
        var result = new List<HfAddedToken>();
        if (JsonFieldReader.Optional(root, "added_tokens_decoder") is not { } decoder)
        {
            return result;
        }

        foreach (var property in reader.Object(decoder, "added_tokens_decoder").EnumerateObject())
        {
            var key = reader.Name(property, "added_tokens_decoder");
            var field = $"added_tokens_decoder.{key}";
            if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id >= BpeModel.MaxId)
            {
                throw reader.Error(field, $"the key '{key}' is not an id below {BpeModel.MaxId}");
            }

            result.Add(ReadAddedToken(property.Value, id, reader, field));
        }

        return result;
    }

    /// <summary>Reads an added-token object whose id is known (<paramref name="id"/>).</summary>
    internal static HfAddedToken ReadAddedToken(JsonElement element, int id, JsonFieldReader reader, string field)
    {
        reader.Object(element, field);
        var content = reader.String(reader.Required(element, "content", field + ".content"), field + ".content");
        if (content.Length == 0)
        {
            throw reader.Error(field + ".content", "empty");
        }

        var special = reader.Bool(element, "special", field + ".special", false);
        return new HfAddedToken(
            id,
            content,
            special,
            reader.Bool(element, "lstrip", field + ".lstrip", false),
            reader.Bool(element, "rstrip", field + ".rstrip", false),
            reader.Bool(element, "single_word", field + ".single_word", false),
            reader.Bool(element, "normalized", field + ".normalized", !special));
    }
}
