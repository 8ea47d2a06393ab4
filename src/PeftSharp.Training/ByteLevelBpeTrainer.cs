using System.Text.RegularExpressions;

namespace PeftSharp.Training;

/// <summary>
/// Trains a byte-level BPE vocabulary (the GPT-2 / Llama 3 / Qwen kind) from a corpus and writes it as
/// Hugging Face's <c>tokenizer.json</c>: text is split by GPT-2's pre-tokenizer pattern, each piece's
/// UTF-8 bytes become the 256 byte symbols, and the most frequent adjacent pair is merged until the
/// vocabulary is full. Deterministic: ties break by the pair's symbols in ordinal order.
/// </summary>
public static partial class ByteLevelBpeTrainer
{
    /// <summary>GPT-2's split pattern, which the <c>ByteLevel</c> pre-tokenizer applies with <c>use_regex</c>.</summary>
    public const string SplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The printable character that stands for each byte (GPT-2's <c>bytes_to_unicode</c>).</summary>
    public static IReadOnlyList<char> ByteSymbols { get; } = BuildByteSymbols();

    /// <summary>
    /// Learns merges for <paramref name="texts"/> until the vocabulary (special tokens + 256 byte
    /// symbols + merges) holds <paramref name="vocabularySize"/> tokens or no pair occurs twice.
    /// </summary>
    /// <returns>The vocabulary in id order (special tokens first, then the byte symbols, then one token per merge) and the merges in rank order.</returns>
    public static (IReadOnlyList<string> Vocabulary, IReadOnlyList<(string Left, string Right)> Merges) Train(
        IEnumerable<string> texts, int vocabularySize, IReadOnlyList<string> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(specialTokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, specialTokens.Count + 256);

        var symbols = new List<string>(ByteSymbols.Select(c => c.ToString()));
        var wordCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            foreach (Match piece in SplitRegex().Matches(text))
            {
                var word = ToByteSymbols(piece.Value);
                wordCounts[word] = wordCounts.GetValueOrDefault(word) + 1;
            }
        }

        var symbolIds = symbols.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i, StringComparer.Ordinal);
        var words = wordCounts.Keys.Order(StringComparer.Ordinal).Select(w => w.Select(c => symbolIds[c.ToString()]).ToList()).ToList();
        var counts = wordCounts.Keys.Order(StringComparer.Ordinal).Select(w => wordCounts[w]).ToArray();
        var pairCounts = new Dictionary<(int, int), long>();
        var pairWords = new Dictionary<(int, int), HashSet<int>>();
        for (var w = 0; w < words.Count; w++)
        {
            CountPairs(words[w], counts[w], w, pairCounts, pairWords);
        }

        var merges = new List<(string, string)>();
        while (specialTokens.Count + symbols.Count < vocabularySize)
        {
            var best = BestPair(pairCounts, symbols);
            if (best is not { } pair)
            {
                break;
            }

            var merged = symbols.Count;
            symbols.Add(symbols[pair.Item1] + symbols[pair.Item2]);
            merges.Add((symbols[pair.Item1], symbols[pair.Item2]));
            foreach (var w in pairWords[pair].ToList())
            {
                var word = words[w];
                CountPairs(word, -counts[w], w, pairCounts, pairWords: null);
                words[w] = Merge(word, pair, merged);
                CountPairs(words[w], counts[w], w, pairCounts, pairWords);
            }

            pairWords.Remove(pair);
            pairCounts.Remove(pair);
        }

        return ([.. specialTokens, .. symbols], merges);
    }

    /// <summary>
    /// The Hugging Face <c>tokenizer.json</c> for a vocabulary from <see cref="Train"/>: a byte-level BPE
    /// model, the <c>ByteLevel</c> pre-tokenizer, post-processor and decoder, and the special tokens as
    /// added tokens.
    /// </summary>
    public static string ToTokenizerJson(IReadOnlyList<string> vocabulary, IReadOnlyList<(string Left, string Right)> merges, IReadOnlyList<string> specialTokens)
    {
        var byteLevel = () => new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var vocab = new JsonObject();
        for (var id = 0; id < vocabulary.Count; id++)
        {
            vocab[vocabulary[id]] = id;
        }

        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray([.. specialTokens.Select(token => (JsonNode)new JsonObject
            {
                ["id"] = vocabulary.ToList().IndexOf(token),
                ["content"] = token,
                ["single_word"] = false,
                ["lstrip"] = false,
                ["rstrip"] = false,
                ["normalized"] = false,
                ["special"] = true,
            })]),
            ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel(),
            ["post_processor"] = byteLevel(),
            ["decoder"] = byteLevel(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray([.. merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right))]),
            },
        };
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary><paramref name="text"/>'s UTF-8 bytes as byte symbols.</summary>
    public static string ToByteSymbols(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteSymbols[bytes[i]];
        }

        return new string(chars);
    }

    private static void CountPairs(List<int> word, long count, int wordIndex, Dictionary<(int, int), long> pairCounts, Dictionary<(int, int), HashSet<int>>? pairWords)
    {
        for (var i = 0; i + 1 < word.Count; i++)
        {
            var pair = (word[i], word[i + 1]);
            var total = pairCounts.GetValueOrDefault(pair) + count;
            if (total == 0)
            {
                pairCounts.Remove(pair);
            }
            else
            {
                pairCounts[pair] = total;
            }

            if (pairWords is not null)
            {
                if (!pairWords.TryGetValue(pair, out var set))
                {
                    pairWords[pair] = set = [];
                }

                set.Add(wordIndex);
            }
        }
    }

    private static (int, int)? BestPair(Dictionary<(int, int), long> pairCounts, List<string> symbols)
    {
        (int, int)? best = null;
        long bestCount = 1;
        foreach (var (pair, count) in pairCounts)
        {
            if (count > bestCount || (count == bestCount && best is { } current && Precedes(pair, current, symbols)))
            {
                best = pair;
                bestCount = count;
            }
        }

        return best;
    }

    private static bool Precedes((int, int) a, (int, int) b, List<string> symbols)
    {
        var first = string.CompareOrdinal(symbols[a.Item1], symbols[b.Item1]);
        return first != 0 ? first < 0 : string.CompareOrdinal(symbols[a.Item2], symbols[b.Item2]) < 0;
    }

    private static List<int> Merge(List<int> word, (int, int) pair, int merged)
    {
        var result = new List<int>(word.Count);
        for (var i = 0; i < word.Count; i++)
        {
            if (i + 1 < word.Count && word[i] == pair.Item1 && word[i + 1] == pair.Item2)
            {
                result.Add(merged);
                i++;
            }
            else
            {
                result.Add(word[i]);
            }
        }

        return result;
    }

    private static char[] BuildByteSymbols()
    {
        // Printable bytes stand for themselves; the rest map to code points from 256 upward, in byte order.
        var symbols = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = printable ? (char)b : (char)next++;
        }

        return symbols;
    }

    [GeneratedRegex(SplitPattern)]
    private static partial Regex SplitRegex();
}
