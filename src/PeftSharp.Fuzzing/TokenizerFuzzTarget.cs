using PeftSharp.Models;

namespace PeftSharp.Fuzzing;

/// <summary>
/// The tokenizer readers of <see cref="TextTokenizer"/>. An input's first byte chooses the format
/// (modulo 4): 0 <c>vocab.txt</c> (WordPiece), 1 <c>tokenizer.json</c> (WordPiece), 2 and 3
/// <c>vocab.json</c> + <c>merges.txt</c> (byte-level BPE as GPT-2 and as RoBERTa; the two files are
/// separated by the first zero byte). An accepted tokenizer must encode and decode a fixed sentence,
/// and every id it produces or names (padding, mask, special tokens) must lie below its vocabulary size.
/// </summary>
public sealed class TokenizerFuzzTarget : FuzzTarget
{
    /// <summary>The sentence every accepted tokenizer must encode and decode.</summary>
    public const string Sentence = "Hello, world! The tokenizer's text: naïve café ##ing [MASK] <mask> <|endoftext|> 123\t\u00A0end.";

    private const byte WordPieceVocab = 0;
    private const byte WordPieceJson = 1;
    private const byte Gpt2Bpe = 2;
    private const byte RobertaBpe = 3;

    private static readonly string[] Words = ["hello", "world", "the", "token", "##izer", "##s", "##ing", "text", "na", "##ive", "caf", "##e", "end", "1", "##2", "##3"];

    private readonly JsonFuzzMutator _json = new(
        ["model", "type", "vocab", "normalizer", "lowercase", "unk_token", "version", "added_tokens", "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "<|endoftext|>", "<s>", "</s>", "<pad>", "<mask>", "Ġ", "h"],
        ["WordPiece", "BPE", -1, 0, 1, 2147483647, -2147483648, 1.5, "[UNK]", "", new JsonObject(), new JsonObject { ["[UNK]"] = 0 }]);

    /// <summary>
    /// 256 bytes per input byte: a vocabulary of short tokens (two bytes a line) becomes a string, a
    /// dictionary entry and the library's own tables per token, about 200 bytes per input byte.
    /// </summary>
    public override long AllocationFactor => 256;

    /// <inheritdoc />
    public override string Name => "tokenizer";

    /// <inheritdoc />
    public override string Description => "Feed the tokenizer readers (vocab.txt, tokenizer.json, vocab.json + merges.txt) mutated files and random bytes.";

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed)
    {
        string[] special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
        var letters = Enumerable.Range('a', 26).Select(c => ((char)c).ToString()).ToList();
        var punctuation = "!,.'#:[]<>|".Select(c => c.ToString()).ToList();
        var wordPiece = special.Concat(punctuation).Concat(letters).Concat(letters.Select(l => "##" + l)).Concat(Words).Distinct().ToList();
        var vocabTxt = string.Join('\n', wordPiece) + "\n";
        var small = string.Join('\n', special.Concat(["hello", "##s"])) + "\n";
        var tokenizerJson = new JsonObject
        {
            ["version"] = "1.0",
            ["normalizer"] = new JsonObject { ["type"] = "BertNormalizer", ["lowercase"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece",
                ["unk_token"] = "[UNK]",
                ["vocab"] = new JsonObject(wordPiece.Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i))),
            },
        }.ToJsonString();

        return
        [
            Container(WordPieceVocab, Encoding.UTF8.GetBytes(vocabTxt)),
            Container(WordPieceVocab, Encoding.UTF8.GetBytes(small)),
            Container(WordPieceJson, Encoding.UTF8.GetBytes(tokenizerJson)),
            Bpe(Gpt2Bpe, ["<|endoftext|>"]),
            Bpe(RobertaBpe, ["<s>", "<pad>", "</s>", "<unk>"], ["<mask>", "<|endoftext|>"]),
        ];
    }

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        if (input.Length == 0)
        {
            throw new ConfigFormatException("tokenizer", null, "empty input (the fuzz target reads the format from the first byte)");
        }

        var payload = input[1..];
        var tokenizer = (input[0] % 4) switch
        {
            WordPieceVocab => TextTokenizer.WordPiece(new MemoryStream(payload, writable: false)),
            WordPieceJson => TextTokenizer.FromTokenizerJson(payload),
            var kind => SplitBpe(payload, kind == RobertaBpe),
        };
        Use(tokenizer);
        return 0;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        var payload = seed[1..];
        switch (seed[0] % 4)
        {
            case WordPieceJson:
                return Container(seed[0], _json.Mutate(payload, random, seeds));
            case WordPieceVocab:
                return Container(seed[0], MutateLines(payload, random));
            default:
                var split = Array.IndexOf(payload, (byte)0);
                var vocab = payload[..split];
                var merges = payload[(split + 1)..];
                if (random.Next(2) == 0)
                {
                    vocab = _json.Mutate(vocab, random, seeds);
                }
                else
                {
                    merges = MutateLines(merges, random);
                }

                return Container(seed[0], [.. vocab, 0, .. merges]);
        }
    }

    /// <summary>Checks that <paramref name="tokenizer"/> is usable: the sentence round-trips through ids that all lie in the vocabulary.</summary>
    private static void Use(TextTokenizer tokenizer)
    {
        var ids = tokenizer.Encode(Sentence, maxLength: 512).InputIds;
        var named = new List<long>(ids) { tokenizer.PadTokenId };
        if (tokenizer.MaskTokenId is { } mask)
        {
            named.Add(mask);
        }

        foreach (var id in named)
        {
            if (id < 0 || id >= tokenizer.VocabularySize)
            {
                throw new InvalidOperationException($"an accepted tokenizer produced id {id} outside its vocabulary of {tokenizer.VocabularySize}");
            }
        }

        _ = tokenizer.Decode(ids);
    }

    private static TextTokenizer SplitBpe(byte[] payload, bool roberta)
    {
        var split = Array.IndexOf(payload, (byte)0);
        if (split < 0)
        {
            throw new ConfigFormatException("merges.txt", null, "missing (the fuzz target separates vocab.json and merges.txt with a zero byte)");
        }

        return TextTokenizer.ByteLevelBpe(payload[..split], payload[(split + 1)..], roberta);
    }

    private static byte[] MutateLines(byte[] text, Random random)
    {
        var lines = Encoding.UTF8.GetString(text).Split('\n').ToList();
        var at = random.Next(lines.Count);
        switch (random.Next(7))
        {
            case 0:
                lines.RemoveAt(at);
                break;
            case 1:
                lines.Insert(at, lines[random.Next(lines.Count)]);
                break;
            case 2:
                lines.Insert(at, new[] { "", " ", "##", "[UNK]", "a b c", "#version: 0.2", "Ġ", "\r", "\u0000", new string('x', 5000) }[random.Next(10)]);
                break;
            case 3:
                lines[at] = lines[at].Replace(' ', random.Next(2) == 0 ? '\t' : '\u00A0');
                break;
            case 4:
                lines[at] = lines[at] + " " + lines[random.Next(lines.Count)];
                break;
            case 5:
                (lines[at], lines[0]) = (lines[0], lines[at]);
                break;
            default:
                lines[at] = lines[at].Length > 1 ? lines[at][..random.Next(lines[at].Length)] : "[" + lines[at];
                break;
        }

        return Encoding.UTF8.GetBytes(string.Join('\n', lines));
    }

    private static byte[] Container(byte kind, byte[] payload) => [kind, .. payload];

    private static byte[] Bpe(byte kind, string[] leadingSpecial, string[]? trailingSpecial = null)
    {
        var byteTokens = ByteLevelAlphabet();
        string[] merged = ["h e", "l l", "Ġ w", "o r", "he ll", "hell o", "Ġ t", "Ġt he", "e n", "Ġ en", "Ġen d"];
        var tokens = new List<string>(leadingSpecial);
        tokens.AddRange(byteTokens);
        tokens.AddRange(merged.Select(m => m.Replace(" ", string.Empty, StringComparison.Ordinal)));
        tokens.AddRange(trailingSpecial ?? []);
        var vocab = new JsonObject(tokens.Distinct().Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i))).ToJsonString();
        var merges = "#version: 0.2\n" + string.Join('\n', merged) + "\n";
        return Container(kind, [.. Encoding.UTF8.GetBytes(vocab), 0, .. Encoding.UTF8.GetBytes(merges)]);
    }

    /// <summary>GPT-2's printable stand-ins for the 256 byte values.</summary>
    private static List<string> ByteLevelAlphabet()
    {
        var tokens = new List<string>();
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            tokens.Add(((char)(printable ? b : next++)).ToString());
        }

        return tokens;
    }
}
