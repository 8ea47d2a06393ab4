namespace PeftSharp.Models;

/// <summary>
/// A SentencePiece Unigram tokenizer read from a Hugging Face <c>tokenizer.json</c> (DeBERTa-v3, T5,
/// ALBERT, XLNet): the normalizer (<c>Replace</c>, <c>Lowercase</c>, <c>Strip</c>, NFC/NFKC; a
/// <c>Precompiled</c> SentencePiece character map is applied as NFKC), the <c>Metaspace</c>
/// pre-tokenizer (spaces become <c>▁</c>, one is prepended, words split before each <c>▁</c>), Viterbi
/// segmentation of each word by the sum of piece log-probabilities (a character no piece covers becomes
/// the unknown piece, scored min − 10; consecutive unknowns fuse), the <c>TemplateProcessing</c> tokens
/// around a single sequence, and special added tokens matched in the text.
/// </summary>
public sealed class UnigramTokenizer
{
    private const char Replacement = '\u2581';
    private const double UnknownPenalty = 10.0;

    private readonly string[] _pieces;
    private readonly double[] _scores;
    private readonly Dictionary<string, int> _ids;
    private readonly int _maxPieceLength;
    private readonly double _unknownScore;
    private readonly List<Func<string, string>> _normalizers;
    private readonly bool _prependSpace;
    private readonly bool _whitespaceSplit;
    private readonly List<(string Content, int Id)> _specialTokens;
    private readonly HashSet<int> _specialIds;

    private UnigramTokenizer(string[] pieces, double[] scores, int unknownId, List<Func<string, string>> normalizers, bool prependSpace, bool whitespaceSplit, List<(string Content, int Id)> specialTokens, int[] prefix, int[] suffix)
    {
        _pieces = pieces;
        _scores = scores;
        UnknownId = unknownId;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < pieces.Length; i++)
        {
            _ids.TryAdd(pieces[i], i);
        }

        _maxPieceLength = pieces.Max(p => p.Length);
        _unknownScore = scores.Min() - UnknownPenalty;
        _normalizers = normalizers;
        _prependSpace = prependSpace;
        _whitespaceSplit = whitespaceSplit;
        _specialTokens = specialTokens.OrderByDescending(t => t.Content.Length).ToList();
        _specialIds = specialTokens.Select(t => t.Id).ToHashSet();
        Prefix = prefix;
        Suffix = suffix;
    }

    /// <summary>The id of the unknown piece.</summary>
    public int UnknownId { get; }

    /// <summary>Ids the post-processor puts before a single sequence (<c>[CLS]</c>).</summary>
    public IReadOnlyList<int> Prefix { get; }

    /// <summary>Ids the post-processor puts after a single sequence (<c>[SEP]</c>).</summary>
    public IReadOnlyList<int> Suffix { get; }

    /// <summary>The number of ids (pieces and added tokens).</summary>
    public int VocabularySize => Math.Max(_pieces.Length, _specialTokens.Select(t => t.Id + 1).DefaultIfEmpty(0).Max());

    /// <summary>The id of <paramref name="token"/> (a piece or an added token), or null.</summary>
    public int? IdOf(string token) =>
        _specialTokens.FirstOrDefault(t => t.Content == token) is { Content: not null } added ? added.Id : _ids.TryGetValue(token, out var id) ? id : null;

    /// <summary>Ids of <paramref name="text"/> without the post-processor's tokens.</summary>
    public List<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        var first = true;
        foreach (var (segment, specialId) in SplitSpecial(text))
        {
            if (specialId is { } id)
            {
                ids.Add(id);
                continue;
            }

            var normalized = _normalizers.Aggregate(segment, (s, normalize) => normalize(s));
            foreach (var word in PreTokenize(normalized, first))
            {
                ids.AddRange(Segment(word));
            }

            first = false;
        }

        return ids;
    }

    /// <summary>Text of <paramref name="ids"/>: pieces joined, <c>▁</c> turned back into spaces, the leading one dropped; special tokens skipped.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var builder = new StringBuilder();
        foreach (var id in ids)
        {
            if (_specialIds.Contains(id) || id < 0 || id >= _pieces.Length)
            {
                continue;
            }

            builder.Append(_pieces[id]);
        }

        var text = builder.Replace(Replacement, ' ').ToString();
        return _prependSpace && text.StartsWith(' ') ? text[1..] : text;
    }

    /// <summary>
    /// The best segmentation of one pre-tokenized <paramref name="word"/> (Viterbi over the pieces'
    /// scores; ties keep the earliest-found path).
    /// </summary>
    public List<int> Segment(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        var n = word.Length;
        var best = new double[n + 1];
        var from = new int[n + 1];
        var piece = new int[n + 1];
        Array.Fill(best, double.NegativeInfinity);
        best[0] = 0;
        for (var start = 0; start < n; start++)
        {
            if (double.IsNegativeInfinity(best[start]))
            {
                continue;
            }

            var coveredSingle = false;
            for (var length = 1; length <= _maxPieceLength && start + length <= n; length++)
            {
                if (!_ids.TryGetValue(word.Substring(start, length), out var id) || _specialIds.Contains(id))
                {
                    continue;
                }

                coveredSingle |= length == 1 || (length == 2 && char.IsSurrogatePair(word, start));
                Relax(start, start + length, best[start] + _scores[id], id);
            }

            if (!coveredSingle)
            {
                var width = char.IsSurrogatePair(word, start) ? 2 : 1;
                Relax(start, start + width, best[start] + _unknownScore, UnknownId);
            }
        }

        var result = new List<int>();
        for (var end = n; end > 0; end = from[end])
        {
            if (piece[end] == UnknownId && result.Count > 0 && result[^1] == UnknownId)
            {
                continue;
            }

            result.Add(piece[end]);
        }

        result.Reverse();
        return result;

        void Relax(int start, int end, double score, int id)
        {
            if (score > best[end])
            {
                (best[end], from[end], piece[end]) = (score, start, id);
            }
        }
    }

    private IEnumerable<string> PreTokenize(string text, bool first)
    {
        var parts = _whitespaceSplit ? text.Split([' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries) : [text];
        foreach (var part in parts)
        {
            var replaced = part.Replace(' ', Replacement);
            if (_prependSpace && (first || _whitespaceSplit) && replaced.Length > 0 && replaced[0] != Replacement)
            {
                replaced = Replacement + replaced;
            }

            var start = 0;
            for (var i = 1; i <= replaced.Length; i++)
            {
                if (i == replaced.Length || replaced[i] == Replacement)
                {
                    if (i > start)
                    {
                        yield return replaced[start..i];
                    }

                    start = i;
                }
            }
        }
    }

    private IEnumerable<(string Segment, int? SpecialId)> SplitSpecial(string text)
    {
        var start = 0;
        var i = 0;
        while (i < text.Length)
        {
            var match = _specialTokens.FirstOrDefault(t => string.CompareOrdinal(text, i, t.Content, 0, t.Content.Length) == 0);
            if (match.Content is null)
            {
                i++;
                continue;
            }

            if (i > start)
            {
                yield return (text[start..i], null);
            }

            yield return (match.Content, match.Id);
            i += match.Content.Length;
            start = i;
        }

        if (start < text.Length || text.Length == 0)
        {
            yield return (text[start..], null);
        }
    }

    /// <summary>Reads a <c>tokenizer.json</c> whose model is Unigram.</summary>
    /// <exception cref="ConfigFormatException">The model, normalizer, pre-tokenizer or post-processor is malformed or of a kind not implemented; the message names the field.</exception>
    public static UnigramTokenizer FromTokenizerJson(ConfigJson json)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (json.Root["model"] is not JsonObject model || Text(model["type"]) != "Unigram")
        {
            throw json.Error("model.type", "expected a Unigram model");
        }

        if (model["vocab"] is not JsonArray vocab || vocab.Count == 0)
        {
            throw json.Error("model.vocab", "expected a non-empty list of [piece, score] pairs");
        }

        var pieces = new string[vocab.Count];
        var scores = new double[vocab.Count];
        for (var i = 0; i < vocab.Count; i++)
        {
            if (vocab[i] is not JsonArray { Count: 2 } pair || Text(pair[0]) is not { Length: > 0 } piece || pair[1] is not JsonValue s || !s.TryGetValue<double>(out var score) || !double.IsFinite(score))
            {
                throw json.Error($"model.vocab[{i}]", "expected [non-empty piece, finite score]");
            }

            (pieces[i], scores[i]) = (piece, score);
        }

        var unknown = model["unk_id"] switch
        {
            null => throw json.Error("model.unk_id", "missing: a Unigram model needs an unknown piece"),
            JsonValue v when v.TryGetValue<int>(out var u) && u >= 0 && u < pieces.Length => u,
            _ => throw json.Error("model.unk_id", $"expected an id in [0, {pieces.Length})"),
        };

        if (model["byte_fallback"] is JsonValue bf && bf.TryGetValue<bool>(out var byteFallback) && byteFallback)
        {
            throw json.Error("model.byte_fallback", "byte fallback is not implemented for Unigram models");
        }

        var normalizers = new List<Func<string, string>>();
        ReadNormalizer(json, json.Root["normalizer"], "normalizer", normalizers);
        var (prepend, whitespaceSplit) = ReadPreTokenizer(json, json.Root["pre_tokenizer"], "pre_tokenizer");
        var added = new List<(string, int)>();
        if (json.Root["added_tokens"] is JsonArray addedTokens)
        {
            for (var i = 0; i < addedTokens.Count; i++)
            {
                if (addedTokens[i] is not JsonObject token || Text(token["content"]) is not { Length: > 0 } content || token["id"] is not JsonValue idValue || !idValue.TryGetValue<int>(out var id) || id < 0)
                {
                    throw json.Error($"added_tokens[{i}]", "expected an object with a non-empty content and a non-negative id");
                }

                if (token["special"] is JsonValue sv && sv.TryGetValue<bool>(out var special) && special)
                {
                    added.Add((content, id));
                }
            }
        }

        var (prefix, suffix) = ReadTemplate(json, json.Root["post_processor"]);
        return new UnigramTokenizer(pieces, scores, unknown, normalizers, prepend, whitespaceSplit, added, prefix, suffix);
    }

    private static void ReadNormalizer(ConfigJson json, JsonNode? node, string field, List<Func<string, string>> steps)
    {
        if (node is null)
        {
            return;
        }

        if (node is not JsonObject normalizer)
        {
            throw json.Error(field, "expected an object");
        }

        switch (Text(normalizer["type"]))
        {
            case "Sequence":
                if (normalizer["normalizers"] is not JsonArray list)
                {
                    throw json.Error($"{field}.normalizers", "expected a list");
                }

                for (var i = 0; i < list.Count; i++)
                {
                    ReadNormalizer(json, list[i], $"{field}.normalizers[{i}]", steps);
                }

                break;
            case "Lowercase":
                steps.Add(s => s.ToLower(CultureInfo.InvariantCulture));
                break;
            case "NFC":
                steps.Add(s => s.Normalize(NormalizationForm.FormC));
                break;
            case "NFKC" or "Precompiled":
                steps.Add(s => s.Normalize(NormalizationForm.FormKC));
                break;
            case "Strip":
                var left = normalizer["strip_left"] is not JsonValue l || !l.TryGetValue<bool>(out var sl) || sl;
                var right = normalizer["strip_right"] is not JsonValue r || !r.TryGetValue<bool>(out var sr) || sr;
                steps.Add(s => (left, right) switch { (true, true) => s.Trim(), (true, false) => s.TrimStart(), (false, true) => s.TrimEnd(), _ => s });
                break;
            case "Replace":
                var pattern = normalizer["pattern"] is JsonObject p ? Text(p["String"]) : null;
                var content = Text(normalizer["content"]);
                if (pattern is not { Length: > 0 } || content is null)
                {
                    throw json.Error($"{field}.pattern", "only Replace with a String pattern and a content is implemented");
                }

                steps.Add(s => s.Replace(pattern, content, StringComparison.Ordinal));
                break;
            case var other:
                throw json.Error($"{field}.type", $"normalizer '{other}' is not implemented (Sequence, Lowercase, NFC, NFKC, Precompiled, Strip, Replace)");
        }
    }

    private static (bool Prepend, bool WhitespaceSplit) ReadPreTokenizer(ConfigJson json, JsonNode? node, string field)
    {
        if (node is not JsonObject pre)
        {
            throw json.Error(field, "a Unigram tokenizer.json needs a Metaspace pre-tokenizer");
        }

        switch (Text(pre["type"]))
        {
            case "Metaspace":
                if (Text(pre["replacement"]) is { } replacement && replacement != Replacement.ToString())
                {
                    throw json.Error($"{field}.replacement", $"'{replacement}' is not implemented (only U+2581)");
                }

                var scheme = Text(pre["prepend_scheme"]);
                var prepend = scheme switch
                {
                    "always" or "first" => true,
                    "never" => false,
                    null => pre["add_prefix_space"] is not JsonValue a || !a.TryGetValue<bool>(out var add) || add,
                    _ => throw json.Error($"{field}.prepend_scheme", $"'{scheme}' is not always, first or never"),
                };
                return (prepend, false);
            case "Sequence":
                if (pre["pretokenizers"] is JsonArray { Count: 2 } list && list[0] is JsonObject w && Text(w["type"]) == "WhitespaceSplit")
                {
                    return (ReadPreTokenizer(json, list[1], $"{field}.pretokenizers[1]").Prepend, true);
                }

                throw json.Error($"{field}.pretokenizers", "only [WhitespaceSplit, Metaspace] is implemented");
            case var other:
                throw json.Error($"{field}.type", $"pre-tokenizer '{other}' is not implemented (Metaspace)");
        }
    }

    private static (int[] Prefix, int[] Suffix) ReadTemplate(ConfigJson json, JsonNode? node)
    {
        if (node is null)
        {
            return ([], []);
        }

        if (node is not JsonObject processor || Text(processor["type"]) != "TemplateProcessing")
        {
            throw json.Error("post_processor.type", "only TemplateProcessing is implemented");
        }

        if (processor["single"] is not JsonArray single)
        {
            throw json.Error("post_processor.single", "expected a list");
        }

        var specials = processor["special_tokens"] as JsonObject;
        var prefix = new List<int>();
        var suffix = new List<int>();
        var seenSequence = false;
        for (var i = 0; i < single.Count; i++)
        {
            if (single[i] is JsonObject item && item["Sequence"] is not null)
            {
                seenSequence = true;
                continue;
            }

            var name = single[i] is JsonObject s && s["SpecialToken"] is JsonObject special ? Text(special["id"]) : null;
            if (name is null || specials?[name] is not JsonObject entry || entry["ids"] is not JsonArray ids)
            {
                throw json.Error($"post_processor.single[{i}]", "expected a Sequence or a SpecialToken listed in special_tokens with its ids");
            }

            (seenSequence ? suffix : prefix).AddRange(ids.Select((x, j) => x is JsonValue v && v.TryGetValue<int>(out var id) ? id : throw json.Error($"post_processor.special_tokens.{name}.ids[{j}]", "expected an integer")));
        }

        return (prefix.ToArray(), suffix.ToArray());
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
