namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// The <c>pre_tokenizer</c> of a tokenizer.json: cuts normalized text into the words BPE runs on.
/// Supports Sequence, Split (String or Regex pattern, every behavior, invert), ByteLevel (with or
/// without GPT-2's regex), Metaspace, Digits, Whitespace and WhitespaceSplit.
/// </summary>
internal sealed class HfPreTokenizer
{
    /// <summary>GPT-2's split pattern, used by ByteLevel when <c>use_regex</c> is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly IReadOnlyList<Func<List<string>, bool, List<string>>> _steps;

    private HfPreTokenizer(IReadOnlyList<Func<List<string>, bool, List<string>>> steps, bool byteLevel)
    {
        _steps = steps;
        IsByteLevel = byteLevel;
    }

    /// <summary>True when a ByteLevel step maps the words to GPT-2's byte alphabet.</summary>
    public bool IsByteLevel { get; }

    /// <summary>
    /// The words of <paramref name="text"/> (empty words dropped); <paramref name="atStart"/> tells
    /// whether the text begins the input (Metaspace's <c>prepend_scheme: first</c>).
    /// </summary>
    public List<string> PreTokenize(string text, bool atStart)
    {
        var pieces = new List<string> { text };
        foreach (var step in _steps)
        {
            pieces = step(pieces, atStart);
        }

        pieces.RemoveAll(p => p.Length == 0);
        return pieces;
    }

    /// <summary>Reads a pre-tokenizer object (null: the whole text is one word).</summary>
    public static HfPreTokenizer Parse(JsonElement? element, JsonFieldReader reader, string field)
    {
        var steps = new List<Func<List<string>, bool, List<string>>>();
        var byteLevel = false;
        if (element is { } value)
        {
            foreach (var (component, componentField, type) in reader.Components(value, field, "pretokenizers"))
            {
                AddStep(component, reader, componentField, type, steps, ref byteLevel);
            }

            reader.CheckStepCount(steps.Count, field);
        }

        return new HfPreTokenizer(steps, byteLevel);
    }

    private static void AddStep(JsonElement element, JsonFieldReader reader, string field, string type, List<Func<List<string>, bool, List<string>>> steps, ref bool byteLevel)
    {
        switch (type)
        {
            case "Split":
                var splitter = HfNormalizer.ReadPattern(element, reader, field);
                var behavior = reader.String(reader.Required(element, "behavior", field + ".behavior"), field + ".behavior");
                var invert = reader.Bool(element, "invert", field + ".invert", false);
                CheckBehavior(behavior, reader, field + ".behavior");
                steps.Add((pieces, _) => SplitAll(pieces, splitter, behavior, invert));
                break;
            case "ByteLevel":
                if (byteLevel)
                {
                    // Each ByteLevel re-encodes the previous one's output, doubling non-ASCII text: stacked ones grow exponentially.
                    throw reader.Error(field + ".type", "a second ByteLevel step is not supported (it would re-encode byte-level text)");
                }

                var addPrefixSpace = reader.Bool(element, "add_prefix_space", field + ".add_prefix_space", true);
                var useRegex = reader.Bool(element, "use_regex", field + ".use_regex", true);
                var gpt2 = useRegex ? RegexSplitter.Create(Gpt2Pattern, literal: false, reader.File, field) : null;
                steps.Add((pieces, _) => ByteLevel(pieces, addPrefixSpace, gpt2));
                byteLevel = true;
                break;
            case "Metaspace":
                steps.Add(Metaspace(element, reader, field));
                break;
            case "Digits":
                var individual = reader.Bool(element, "individual_digits", field + ".individual_digits", false);
                var digits = RegexSplitter.Create(individual ? @"\p{N}" : @"\p{N}+", literal: false, reader.File, field);
                steps.Add((pieces, _) => SplitAll(pieces, digits, "Isolated", false));
                break;
            case "Whitespace":
                var words = RegexSplitter.Create(@"\w+|[^\w\s]+", literal: false, reader.File, field);
                steps.Add((pieces, _) => SplitAll(pieces, words, "Removed", true));
                break;
            case "WhitespaceSplit":
                var spaces = RegexSplitter.Create(@"\s+", literal: false, reader.File, field);
                steps.Add((pieces, _) => SplitAll(pieces, spaces, "Removed", false));
                break;
            default:
                throw reader.Error(field + ".type", $"pre-tokenizer '{type}' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit)");
        }
    }

    private static Func<List<string>, bool, List<string>> Metaspace(JsonElement element, JsonFieldReader reader, string field)
    {
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

        var split = reader.Bool(element, "split", field + ".split", true);
        var splitter = RegexSplitter.Create(replacement, literal: true, reader.File, field + ".replacement");
        return (pieces, atStart) =>
        {
            var result = new List<string>();
            for (var i = 0; i < pieces.Count; i++)
            {
                var piece = pieces[i].Replace(" ", replacement, StringComparison.Ordinal);
                var prepend = scheme == "always" || (scheme == "first" && atStart && i == 0);
                if (prepend && !piece.StartsWith(replacement, StringComparison.Ordinal))
                {
                    piece = replacement + piece;
                }

                if (split)
                {
                    result.AddRange(Split(piece, splitter, "MergedWithNext", false));
                }
                else
                {
                    result.Add(piece);
                }
            }

            return result;
        };
    }

    private static List<string> ByteLevel(List<string> pieces, bool addPrefixSpace, RegexSplitter? gpt2)
    {
        var result = new List<string>();
        foreach (var original in pieces)
        {
            var piece = addPrefixSpace && !original.StartsWith(' ') ? " " + original : original;
            var words = gpt2 is null ? [piece] : Split(piece, gpt2, "Isolated", false);
            result.AddRange(words.Select(ByteLevelAlphabet.Encode));
        }

        return result;
    }

    private static void CheckBehavior(string behavior, JsonFieldReader reader, string field)
    {
        if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
        {
            throw reader.Error(field, $"'{behavior}' is not Isolated, Removed, MergedWithPrevious, MergedWithNext or Contiguous");
        }
    }

    private static List<string> SplitAll(List<string> pieces, RegexSplitter splitter, string behavior, bool invert)
    {
        var result = new List<string>();
        foreach (var piece in pieces)
        {
            result.AddRange(Split(piece, splitter, behavior, invert));
        }

        return result;
    }

    /// <summary>Hugging Face's split of one piece by its delimiter behavior.</summary>
    internal static List<string> Split(string text, RegexSplitter splitter, string behavior, bool invert)
    {
        var spans = splitter.Spans(text).Select(s => (s.Start, s.End, IsMatch: s.IsMatch != invert)).ToList();
        var merged = new List<(int Start, int End)>();
        switch (behavior)
        {
            case "Removed":
                merged.AddRange(spans.Where(s => !s.IsMatch).Select(s => (s.Start, s.End)));
                break;
            case "Isolated":
                merged.AddRange(spans.Select(s => (s.Start, s.End)));
                break;
            case "Contiguous":
                for (var i = 0; i < spans.Count; i++)
                {
                    if (i > 0 && spans[i].IsMatch == spans[i - 1].IsMatch)
                    {
                        merged[^1] = (merged[^1].Start, spans[i].End);
                    }
                    else
                    {
                        merged.Add((spans[i].Start, spans[i].End));
                    }
                }

                break;
            case "MergedWithPrevious":
                for (var i = 0; i < spans.Count; i++)
                {
                    if (spans[i].IsMatch && merged.Count > 0 && !spans[i - 1].IsMatch)
                    {
                        merged[^1] = (merged[^1].Start, spans[i].End);
                    }
                    else
                    {
                        merged.Add((spans[i].Start, spans[i].End));
                    }
                }

                break;
            default:
                for (var i = spans.Count - 1; i >= 0; i--)
                {
                    if (spans[i].IsMatch && merged.Count > 0 && !spans[i + 1].IsMatch)
                    {
                        merged[^1] = (spans[i].Start, merged[^1].End);
                    }
                    else
                    {
                        merged.Add((spans[i].Start, spans[i].End));
                    }
                }

                merged.Reverse();
                break;
        }

        return merged.Where(s => s.End > s.Start).Select(s => text[s.Start..s.End]).ToList();
    }
}
