namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// A decoder-LLM tokenizer read from Hugging Face's <c>tokenizer.json</c> (BPE model) and, when
/// present, <c>tokenizer_config.json</c>: byte-level BPE (GPT-2, Llama 3, Qwen2/3, SmolLM2) and
/// SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama, Mistral, Phi-3). Encodes as the
/// Rust <c>tokenizers</c> library: added tokens are split out of the raw text first, the rest is
/// normalized, pre-tokenized and merged; decodes through the file's decoder chain.
/// </summary>
public sealed class HfTokenizer
{
    /// <summary>The tokenizer file of a model directory.</summary>
    public const string TokenizerFileName = "tokenizer.json";

    /// <summary>The optional configuration file of a model directory.</summary>
    public const string ConfigFileName = "tokenizer_config.json";

    private readonly BpeModel _model;
    private readonly HfNormalizer _normalizer;
    private readonly HfPreTokenizer _preTokenizer;
    private readonly HfPostProcessor _postProcessor;
    private readonly HfDecoder _decoder;
    private readonly AddedTokenSplitter _rawSplitter;
    private readonly AddedTokenSplitter _normalizedSplitter;
    private readonly Dictionary<int, HfAddedToken> _addedById;
    private readonly Dictionary<string, HfAddedToken> _addedByContent;
    private readonly bool _cleanUpSpaces;

    private HfTokenizer(BpeModel model, HfNormalizer normalizer, HfPreTokenizer preTokenizer, HfPostProcessor postProcessor, HfDecoder decoder, IReadOnlyList<HfAddedToken> added, bool cleanUpSpaces)
    {
        _model = model;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _postProcessor = postProcessor;
        _decoder = decoder;
        AddedTokens = added;
        _addedById = added.ToDictionary(t => t.Id);
        _addedByContent = added.ToDictionary(t => t.Content, StringComparer.Ordinal);
        _rawSplitter = new AddedTokenSplitter(added.Where(t => !t.Normalized));
        _normalizedSplitter = new AddedTokenSplitter(added.Where(t => t.Normalized));
        _cleanUpSpaces = cleanUpSpaces;
        VocabularySize = Math.Max(model.Size, added.Count == 0 ? 0 : added.Max(t => t.Id) + 1);
    }

    /// <summary>One more than the largest id (the model's vocabulary and the added tokens).</summary>
    public int VocabularySize { get; }

    /// <summary>The added tokens (special and not), in file order.</summary>
    public IReadOnlyList<HfAddedToken> AddedTokens { get; }

    /// <summary>The beginning-of-sequence token of tokenizer_config.json, or null.</summary>
    public int? BosTokenId { get; private init; }

    /// <summary>The end-of-sequence token(s) of tokenizer_config.json (empty when it names none).</summary>
    public IReadOnlyList<int> EosTokenIds { get; private init; } = [];

    /// <summary>The padding token of tokenizer_config.json, or null.</summary>
    public int? PadTokenId { get; private init; }

    /// <summary>The unknown token of tokenizer_config.json, or null.</summary>
    public int? UnkTokenId { get; private init; }

    /// <summary>True when the tokenizer uses GPT-2's byte-level alphabet.</summary>
    public bool IsByteLevel => _preTokenizer.IsByteLevel;

    /// <summary>The tokens <see cref="Encode"/> puts before the text when adding special tokens.</summary>
    public IReadOnlyList<int> PrefixTokenIds => _postProcessor.Prefix.Select(p => p.Id).ToList();

    /// <summary>The tokens <see cref="Encode"/> puts after the text when adding special tokens.</summary>
    public IReadOnlyList<int> SuffixTokenIds => _postProcessor.Suffix.Select(p => p.Id).ToList();

    /// <summary>True when <paramref name="directory"/> holds a tokenizer.json.</summary>
    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, TokenizerFileName));

    /// <summary>Loads tokenizer.json (and tokenizer_config.json when present) from <paramref name="directory"/>.</summary>
    /// <exception cref="ConfigFormatException">A file is missing, malformed or uses an unsupported component; the message names the file and the field.</exception>
    public static HfTokenizer Load(string directory)
    {
        var tokenizerPath = Path.Combine(directory, TokenizerFileName);
        if (!File.Exists(tokenizerPath))
        {
            throw new ConfigFormatException(tokenizerPath, null, "the file does not exist");
        }

        var configPath = Path.Combine(directory, ConfigFileName);
        var config = File.Exists(configPath) ? File.ReadAllBytes(configPath) : null;
        return Load(File.ReadAllBytes(tokenizerPath), config, tokenizerPath, configPath);
    }

    /// <summary>Loads a tokenizer from the bytes of tokenizer.json and, optionally, tokenizer_config.json.</summary>
    /// <param name="tokenizerJson">The bytes of tokenizer.json.</param>
    /// <param name="tokenizerConfigJson">The bytes of tokenizer_config.json, or null.</param>
    /// <param name="tokenizerPath">The name of tokenizer.json in messages.</param>
    /// <param name="configPath">The name of tokenizer_config.json in messages.</param>
    /// <exception cref="ConfigFormatException">Malformed or unsupported content; the message names the file and the field.</exception>
    public static HfTokenizer Load(byte[] tokenizerJson, byte[]? tokenizerConfigJson, string tokenizerPath = TokenizerFileName, string configPath = ConfigFileName)
    {
        var config = tokenizerConfigJson is null ? HfTokenizerConfig.Empty : HfTokenizerConfig.Parse(tokenizerConfigJson, configPath);
        var reader = new JsonFieldReader(tokenizerPath);
        using var document = reader.Parse(tokenizerJson);
        var root = document.RootElement;
        var model = BpeModel.Parse(reader.Required(root, "model", "model"), reader, "model");
        var added = ReadAddedTokens(root, reader, config, configPath);
        int? SpecialId(string? token, string field) => token is null
            ? null
            : added.FirstOrDefault(t => t.Content == token)?.Id ?? model.TokenToId(token)
                ?? throw new ConfigFormatException(configPath, field, $"'{token}' is neither an added token nor in the vocabulary");
        var bos = SpecialId(config.BosToken, "bos_token");
        var eos = SpecialId(config.EosToken, "eos_token");
        var postProcessor = HfPostProcessor.Parse(JsonFieldReader.Optional(root, "post_processor"), reader, "post_processor");
        var tokenizer = new HfTokenizer(
            model,
            HfNormalizer.Parse(JsonFieldReader.Optional(root, "normalizer"), reader, "normalizer"),
            HfPreTokenizer.Parse(JsonFieldReader.Optional(root, "pre_tokenizer"), reader, "pre_tokenizer"),
            OverridePostProcessor(postProcessor, config, bos, eos),
            HfDecoder.Parse(JsonFieldReader.Optional(root, "decoder"), reader, "decoder"),
            added,
            config.CleanUpTokenizationSpaces)
        {
            BosTokenId = bos,
            EosTokenIds = eos is { } e ? [e] : [],
            PadTokenId = SpecialId(config.PadToken, "pad_token"),
            UnkTokenId = SpecialId(config.UnkToken, "unk_token"),
        };
        tokenizer.CheckIds(tokenizerPath);
        return tokenizer;
    }

    /// <summary>The id of <paramref name="token"/> (an added token or a vocabulary entry), or null.</summary>
    public int? TokenToId(string token) => _addedByContent.TryGetValue(token, out var added) ? added.Id : _model.TokenToId(token);

    /// <summary>The token of <paramref name="id"/>, or null for an id the tokenizer does not know.</summary>
    public string? IdToToken(int id) => _addedById.TryGetValue(id, out var added) ? added.Content : _model.IdToToken(id);

    /// <summary>True when <paramref name="id"/> is a special added token (skipped by <see cref="Decode"/> with skipSpecialTokens).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var added) && added.Special;

    /// <summary>The ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/> the post-processor's tokens (such as BOS) are added.</summary>
    public int[] Encode(string text, bool addSpecialTokens = true) => [.. EncodeWithTokens(text, addSpecialTokens).Ids];

    /// <summary>The ids of <paramref name="text"/> with the tokens they stand for.</summary>
    public HfEncoding EncodeWithTokens(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        var tokens = new List<string>();
        if (addSpecialTokens)
        {
            AddPairs(_postProcessor.Prefix, ids, tokens);
        }

        var atStart = true;
        foreach (var (piece, token) in _rawSplitter.Split(ReplaceLoneSurrogates(text)))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                tokens.Add(token.Content);
            }
            else
            {
                EncodeNormalized(_normalizer.Normalize(piece), atStart, ids, tokens);
            }

            atStart = false;
        }

        if (addSpecialTokens)
        {
            AddPairs(_postProcessor.Suffix, ids, tokens);
        }

        return new HfEncoding(ids, tokens);
    }

    /// <summary>The text of <paramref name="ids"/> (unknown ids are skipped).</summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="skipSpecialTokens">Leave out special added tokens (BOS, EOS, chat markers).</param>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id))
            {
                continue;
            }

            if (IdToToken(id) is { } token)
            {
                tokens.Add(token);
            }
        }

        var text = _decoder.Decode(tokens);
        return _cleanUpSpaces ? CleanUpTokenizationSpaces(text) : text;
    }

    /// <summary>A decoder for streaming generation that emits text only when its characters are complete.</summary>
    public HfStreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>transformers' <c>clean_up_tokenization</c>: drops the space before punctuation and English contractions.</summary>
    public static string CleanUpTokenizationSpaces(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal)
        .Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal)
        .Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal)
        .Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal)
        .Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal)
        .Replace(" 're", "'re", StringComparison.Ordinal);

    private void EncodeNormalized(string normalized, bool atStart, List<int> ids, List<string> tokens)
    {
        var pieces = _normalizedSplitter.IsEmpty ? [(normalized, null)] : _normalizedSplitter.Split(normalized);
        foreach (var (piece, token) in pieces)
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                tokens.Add(token.Content);
                atStart = false;
                continue;
            }

            foreach (var word in _preTokenizer.PreTokenize(piece, atStart))
            {
                var first = ids.Count;
                _model.Tokenize(word, ids);
                for (var i = first; i < ids.Count; i++)
                {
                    tokens.Add(_model.IdToToken(ids[i])!);
                }
            }

            atStart = false;
        }
    }

    private static void AddPairs(IReadOnlyList<(int Id, string Token)> pairs, List<int> ids, List<string> tokens)
    {
        foreach (var (id, token) in pairs)
        {
            ids.Add(id);
            tokens.Add(token);
        }
    }

    /// <summary>Text with each unpaired surrogate replaced by U+FFFD (as UTF-8, which the Rust library works on, must).</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            builder.Append(rune.ToString());
        }

        return builder.ToString();
    }

    /// <summary>
    /// The added tokens of tokenizer.json, with those of tokenizer_config.json's added_tokens_decoder
    /// that tokenizer.json lacks. The same id or content twice with different meanings is an error.
    /// </summary>
    private static List<HfAddedToken> ReadAddedTokens(System.Text.Json.JsonElement root, JsonFieldReader reader, HfTokenizerConfig config, string configPath)
    {
        var added = new List<HfAddedToken>();
        var byId = new Dictionary<int, HfAddedToken>();
        var byContent = new Dictionary<string, HfAddedToken>(StringComparer.Ordinal);
        if (JsonFieldReader.Optional(root, "added_tokens") is { } array)
        {
            var i = 0;
            foreach (var item in reader.Array(array, "added_tokens").EnumerateArray())
            {
                var field = $"added_tokens[{i++}]";
                var id = reader.Int(reader.Required(reader.Object(item, field), "id", field + ".id"), field + ".id", 0, BpeModel.MaxId - 1);
                var token = HfTokenizerConfig.ReadAddedToken(item, id, reader, field);
                if (!byId.TryAdd(id, token) || !byContent.TryAdd(token.Content, token))
                {
                    throw reader.Error(field, $"'{token.Content}' (id {id}) repeats the id or the content of an earlier added token");
                }

                added.Add(token);
            }
        }

        foreach (var token in config.AddedTokensDecoder)
        {
            if (byId.TryGetValue(token.Id, out var known))
            {
                if (known.Content != token.Content)
                {
                    throw new ConfigFormatException(configPath, $"added_tokens_decoder.{token.Id}", $"'{token.Content}' differs from tokenizer.json's '{known.Content}' for the same id");
                }

                continue;
            }

            if (!byContent.TryAdd(token.Content, token))
            {
                throw new ConfigFormatException(configPath, $"added_tokens_decoder.{token.Id}", $"'{token.Content}' is already added token {byContent[token.Content].Id}");
            }

            byId.Add(token.Id, token);
            added.Add(token);
        }

        return added;
    }

    /// <summary>
    /// transformers' Llama-family fast tokenizers rebuild the post-processor from add_bos_token and
    /// add_eos_token when tokenizer_config.json sets them; otherwise tokenizer.json's post-processor stands.
    /// </summary>
    private static HfPostProcessor OverridePostProcessor(HfPostProcessor fromFile, HfTokenizerConfig config, int? bos, int? eos)
    {
        if (config.AddBosToken is null && config.AddEosToken is null)
        {
            return fromFile;
        }

        var prefix = config.AddBosToken == true && bos is { } b ? new List<(int, string)> { (b, config.BosToken!) } : [];
        var suffix = config.AddEosToken == true && eos is { } e ? new List<(int, string)> { (e, config.EosToken!) } : [];
        return new HfPostProcessor(prefix, suffix);
    }

    /// <summary>Every id the post-processor adds must be a known token.</summary>
    private void CheckIds(string tokenizerPath)
    {
        foreach (var (id, token) in _postProcessor.Prefix.Concat(_postProcessor.Suffix))
        {
            if (IdToToken(id) is null)
            {
                throw new ConfigFormatException(tokenizerPath, "post_processor", $"special token '{token}' has id {id}, which is not a token");
            }
        }
    }
}
