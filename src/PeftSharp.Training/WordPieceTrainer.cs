using System.Text.RegularExpressions;

namespace PeftSharp.Training;

/// <summary>
/// Builds a small WordPiece vocabulary (BERT's <c>vocab.txt</c>) from a corpus: the special tokens,
/// every character seen at least twice (as a word start and as a <c>##</c> continuation), the most
/// frequent whole words, then the most frequent word prefixes and <c>##</c> suffixes of the words
/// left out. Deterministic (ties break by ordinal string order).
/// </summary>
public static partial class WordPieceTrainer
{
    /// <summary>BERT's special tokens, ids 0–4.</summary>
    public static IReadOnlyList<string> SpecialTokens { get; } = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    /// <summary>Lower-cased words and punctuation marks of <paramref name="text"/>, as BERT's basic tokenizer splits them.</summary>
    public static IEnumerable<string> Words(string text) =>
        WordRegex().Matches(text.ToLowerInvariant()).Select(m => m.Value);

    /// <summary>A vocabulary of at most <paramref name="size"/> tokens for <paramref name="texts"/>, in id order.</summary>
    public static IReadOnlyList<string> Train(IEnumerable<string> texts, int size, double wholeWordShare = 0.7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 64);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            foreach (var word in Words(text))
            {
                counts[word] = counts.GetValueOrDefault(word) + 1;
            }
        }

        var vocab = new List<string>(SpecialTokens);
        var seen = new HashSet<string>(vocab, StringComparer.Ordinal);
        void Add(string token)
        {
            if (vocab.Count < size && seen.Add(token))
            {
                vocab.Add(token);
            }
        }

        var chars = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (word, count) in counts)
        {
            foreach (var rune in word.EnumerateRunes())
            {
                var c = rune.ToString();
                chars[c] = chars.GetValueOrDefault(c) + count;
            }
        }

        var kept = chars.Where(kv => kv.Value >= 2).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        foreach (var c in kept)
        {
            Add(c);
        }

        foreach (var c in kept)
        {
            Add("##" + c);
        }

        var ranked = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var wholeWords = (int)((size - vocab.Count) * wholeWordShare);
        foreach (var (word, _) in ranked.Take(wholeWords))
        {
            Add(word);
        }

        var pieces = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (word, count) in ranked.Skip(wholeWords))
        {
            for (var length = 3; length <= Math.Min(6, word.Length - 1); length++)
            {
                pieces[word[..length]] = pieces.GetValueOrDefault(word[..length]) + count;
            }

            for (var length = 2; length <= Math.Min(5, word.Length - 1); length++)
            {
                var suffix = "##" + word[^length..];
                pieces[suffix] = pieces.GetValueOrDefault(suffix) + count;
            }
        }

        foreach (var (piece, _) in pieces.Where(kv => kv.Value >= 3).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (vocab.Count >= size)
            {
                break;
            }

            Add(piece);
        }

        return vocab;
    }

    /// <summary>The <c>vocab.txt</c> text: one token per line, id = line number.</summary>
    public static string ToVocabText(IReadOnlyList<string> vocab)
    {
        var builder = new StringBuilder();
        foreach (var token in vocab)
        {
            builder.Append(token).Append('\n');
        }

        return builder.ToString();
    }

    [GeneratedRegex(@"\p{L}+|\p{N}+|[^\s\p{L}\p{N}]")]
    private static partial Regex WordRegex();
}
