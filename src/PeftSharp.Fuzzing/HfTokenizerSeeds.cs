namespace PeftSharp.Fuzzing;

/// <summary>
/// Small tokenizer.json and tokenizer_config.json files in the layouts of real decoder-LLM tokenizers
/// (Llama 2 / Mistral, Qwen2/3, GPT-2, Llama 3, TinyLlama-style Metaspace), and the component pool
/// the structural mutations of <see cref="HfTokenizerFuzzTarget"/> draw from.
/// </summary>
internal static class HfTokenizerSeeds
{
    /// <summary>Qwen2/3's (and, with \p{N}{1,3}, Llama 3's) split pattern.</summary>
    public const string QwenPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly string[] Words = ["hello", "world", "the", "token", "izer", "naïve", "café", "日本", "123", "ing", "er", "in"];

    /// <summary>Llama 2 / Mistral: Prepend + Replace normalizer, no pre-tokenizer, byte fallback, BOS template, Llama's decoder chain.</summary>
    public static (JsonObject Tokenizer, JsonObject? Config) SentencePiece()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        tokens.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        var merges = MergesOf(Words.Select(w => "▁" + w), tokens);
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(0, "<unk>", true), Added(1, "<s>", true), Added(2, "</s>", true)),
            ["normalizer"] = Sequence("normalizers", Prepend(), ReplaceSpace()),
            ["pre_tokenizer"] = null,
            ["post_processor"] = Template("<s>", 1),
            ["decoder"] = LlamaDecoder(),
            ["model"] = Model(tokens, merges, unk: "<unk>", byteFallback: true, fuseUnk: true, pairs: false),
        };
        var config = new JsonObject
        {
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["bos_token"] = "<s>",
            ["eos_token"] = new JsonObject { ["content"] = "</s>", ["lstrip"] = false },
            ["unk_token"] = "<unk>",
            ["pad_token"] = null,
            ["clean_up_tokenization_spaces"] = false,
            ["added_tokens_decoder"] = new JsonObject { ["0"] = Added(0, "<unk>", true), ["1"] = Added(1, "<s>", true), ["2"] = Added(2, "</s>", true) },
        };
        return (tokenizer, config);
    }

    /// <summary>Qwen2/3: NFC, Split(regex) + ByteLevel without regex, pair-form merges, special and non-special added tokens.</summary>
    public static (JsonObject Tokenizer, JsonObject? Config) Qwen()
    {
        var tokens = ByteAlphabet();
        var merges = MergesOf(Words.Select(w => ByteLevel(" " + w)).Concat(Words.Select(ByteLevel)), tokens);
        var imStart = tokens.Count;
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(imStart, "<|endoftext|>", true), Added(imStart + 1, "<|im_start|>", true), Added(imStart + 2, "<|im_end|>", true), Added(imStart + 3, "<think>", false), Added(imStart + 4, "</think>", false)),
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = Sequence("pretokenizers", Split(QwenPattern), ByteLevelComponent(false)),
            ["post_processor"] = ByteLevelComponent(false),
            ["decoder"] = ByteLevelComponent(false),
            ["model"] = Model(tokens, merges, unk: null, byteFallback: false, fuseUnk: false, pairs: true),
        };
        var config = new JsonObject
        {
            ["add_bos_token"] = false,
            ["bos_token"] = null,
            ["eos_token"] = "<|im_end|>",
            ["pad_token"] = "<|endoftext|>",
            ["unk_token"] = null,
            ["added_tokens_decoder"] = new JsonObject { [$"{imStart + 3}"] = Added(imStart + 3, "<think>", false) },
        };
        return (tokenizer, config);
    }

    /// <summary>GPT-2: ByteLevel pre-tokenizer with its own regex, string merges, no configuration file.</summary>
    public static (JsonObject Tokenizer, JsonObject? Config) Gpt2()
    {
        var tokens = ByteAlphabet();
        var merges = MergesOf(Words.Select(w => ByteLevel(" " + w)), tokens);
        var tokenizer = new JsonObject
        {
            ["added_tokens"] = new JsonArray(Added(tokens.Count, "<|endoftext|>", true), Added(tokens.Count + 1, "Hello World", false, normalized: true)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = ByteLevelComponent(true),
            ["decoder"] = ByteLevelComponent(true),
            ["model"] = Model(tokens, merges, unk: null, byteFallback: false, fuseUnk: false, pairs: false),
        };
        return (tokenizer, null);
    }

    /// <summary>Llama 3: Split + ByteLevel, <c>ignore_merges</c>, Sequence(ByteLevel, TemplateProcessing) adding &lt;|begin_of_text|&gt;.</summary>
    public static (JsonObject Tokenizer, JsonObject? Config) Llama3()
    {
        var (tokenizer, _) = Qwen();
        var model = tokenizer["model"]!.AsObject();
        model["ignore_merges"] = true;
        var begin = model["vocab"]!.AsObject().Count + 10;
        tokenizer["added_tokens"] = new JsonArray(Added(begin, "<|begin_of_text|>", true), Added(begin + 1, "<|eot_id|>", true, lstrip: true), Added(begin + 2, "<|reserved_special_token_0|>", true, rstrip: true));
        tokenizer["post_processor"] = Sequence("processors", ByteLevelComponent(true), Template("<|begin_of_text|>", begin));
        var config = new JsonObject { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|eot_id|>", ["clean_up_tokenization_spaces"] = true };
        return (tokenizer, config);
    }

    /// <summary>TinyLlama-style: Metaspace pre-tokenizer and decoder instead of the normalizer, single-word added token.</summary>
    public static (JsonObject Tokenizer, JsonObject? Config) Metaspace()
    {
        var (tokenizer, config) = SentencePiece();
        tokenizer["normalizer"] = null;
        tokenizer["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false };
        tokenizer["decoder"] = Sequence("decoders", new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false }, new JsonObject { ["type"] = "ByteFallback" }, new JsonObject { ["type"] = "Fuse" });
        tokenizer["added_tokens"]!.AsArray().Add(Added(3, "<0x00>", false, singleWord: true));
        return (tokenizer, config);
    }

    /// <summary>Components, valid and not, that a mutation puts in place of a normalizer, pre-tokenizer, post-processor or decoder.</summary>
    public static JsonNode?[] Components() =>
    [
        null,
        new JsonObject { ["type"] = "NFC" },
        new JsonObject { ["type"] = "NFKC" },
        new JsonObject { ["type"] = "Lowercase" },
        new JsonObject { ["type"] = "StripAccents" },
        new JsonObject { ["type"] = "Strip", ["strip_left"] = true, ["strip_right"] = false },
        Prepend(),
        ReplaceSpace(),
        new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = "\\s+" }, ["content"] = "" },
        new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "" }, ["content"] = "x" },
        new JsonObject { ["type"] = "BertNormalizer", ["lowercase"] = true },
        new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = "AAAA" },
        new JsonObject { ["type"] = 5 },
        new JsonObject(),
        "NFC",
        new JsonArray(),
        Split(QwenPattern),
        Split(@"\p{N}{1,3}"),
        Split("("),
        Split("a++"),
        Split(@"\p{Han}+"),
        Split("(a+)+$"),
        Split(""),
        new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = " " }, ["behavior"] = "MergedWithNext", ["invert"] = true },
        new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = "x" }, ["behavior"] = "Sideways" },
        new JsonObject { ["type"] = "Digits", ["individual_digits"] = true },
        new JsonObject { ["type"] = "Whitespace" },
        new JsonObject { ["type"] = "WhitespaceSplit" },
        new JsonObject { ["type"] = "UnicodeScripts" },
        new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "always", ["split"] = true },
        new JsonObject { ["type"] = "Metaspace", ["replacement"] = "", ["add_prefix_space"] = true },
        new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "sometimes" },
        ByteLevelComponent(true),
        ByteLevelComponent(false),
        Sequence("pretokenizers", Split(QwenPattern), ByteLevelComponent(false)),
        Sequence("normalizers", Prepend(), ReplaceSpace()),
        Sequence("decoders", new JsonObject { ["type"] = "ByteFallback" }, new JsonObject { ["type"] = "Fuse" }, new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 3, ["stop"] = 2 }),
        new JsonObject { ["type"] = "Strip", ["content"] = "", ["start"] = 1, ["stop"] = 0 },
        new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = -1, ["stop"] = 0 },
        LlamaDecoder(),
        new JsonObject { ["type"] = "CTC" },
        new JsonObject { ["type"] = "WordPiece", ["prefix"] = "##" },
        Template("<s>", 1),
        Template("<s>", 99999),
        Template("<|begin_of_text|>", 0),
        new JsonObject { ["type"] = "TemplateProcessing", ["single"] = new JsonArray(new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B" } }), ["special_tokens"] = new JsonObject() },
        new JsonObject { ["type"] = "TemplateProcessing", ["single"] = "<s> $A", ["special_tokens"] = new JsonObject() },
        new JsonObject { ["type"] = "RobertaProcessing", ["cls"] = new JsonArray("<s>", 1), ["sep"] = new JsonArray("</s>", 2) },
        new JsonObject { ["type"] = "BertProcessing", ["cls"] = new JsonArray("[CLS]"), ["sep"] = new JsonArray("</s>", 2) },
        Sequence("processors", ByteLevelComponent(true), Template("<s>", 1)),
        Sequence("processors", Sequence("processors", Sequence("processors"))),
    ];

    /// <summary>Values for model fields and added tokens.</summary>
    public static JsonNode?[] Values() =>
    [
        null, true, false, 0, 1, 2, -1, 16777216, 2147483647, 0.5, "", " ", "<unk>", "<s>", "</s>", "<|im_start|>", "▁", "Ġ", "a", "é", "😀", "\u0000",
        "Unigram", "WordPiece", "WordLevel", "BPE", "##", new string('x', 3000), new JsonArray(), new JsonObject(), new JsonArray("a", "b"),
    ];

    private static JsonObject Model(List<string> tokens, List<(string Left, string Right)> merges, string? unk, bool byteFallback, bool fuseUnk, bool pairs) => new()
    {
        ["type"] = "BPE",
        ["dropout"] = null,
        ["unk_token"] = unk,
        ["continuing_subword_prefix"] = pairs ? string.Empty : null,
        ["end_of_word_suffix"] = pairs ? string.Empty : null,
        ["fuse_unk"] = fuseUnk,
        ["byte_fallback"] = byteFallback,
        ["ignore_merges"] = false,
        ["vocab"] = new JsonObject(tokens.Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i))),
        ["merges"] = new JsonArray(merges.Select(m => pairs ? (JsonNode)new JsonArray(m.Left, m.Right) : m.Left + " " + m.Right).ToArray()),
    };

    /// <summary>Merges that build each word left to right from its characters; adds every character and merged token to <paramref name="tokens"/>.</summary>
    private static List<(string, string)> MergesOf(IEnumerable<string> words, List<string> tokens)
    {
        var known = new HashSet<string>(tokens, StringComparer.Ordinal);
        var merges = new List<(string, string)>();
        var seen = new HashSet<(string, string)>();
        foreach (var word in words)
        {
            var runes = word.EnumerateRunes().Select(r => r.ToString()).ToList();
            foreach (var rune in runes.Where(known.Add))
            {
                tokens.Add(rune);
            }

            var current = runes[0];
            foreach (var next in runes.Skip(1))
            {
                if (seen.Add((current, next)))
                {
                    merges.Add((current, next));
                }

                current += next;
                if (known.Add(current))
                {
                    tokens.Add(current);
                }
            }
        }

        return merges;
    }

    private static List<string> ByteAlphabet() => Enumerable.Range(0, 256).Select(ByteChar).ToList();

    /// <summary>The byte-level form of <paramref name="text"/> (UTF-8 bytes as GPT-2's printable characters).</summary>
    private static string ByteLevel(string text) => string.Concat(System.Text.Encoding.UTF8.GetBytes(text).Select(b => ByteChar(b)));

    /// <summary>GPT-2's printable stand-in for byte <paramref name="b"/>.</summary>
    private static string ByteChar(int b)
    {
        static bool Printable(int x) => x is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        return ((char)(Printable(b) ? b : 256 + Enumerable.Range(0, b).Count(x => !Printable(x)))).ToString();
    }

    private static JsonObject Added(int id, string content, bool special, bool lstrip = false, bool rstrip = false, bool singleWord = false, bool normalized = false) => new()
    {
        ["id"] = id,
        ["content"] = content,
        ["single_word"] = singleWord,
        ["lstrip"] = lstrip,
        ["rstrip"] = rstrip,
        ["normalized"] = normalized,
        ["special"] = special,
    };

    private static JsonObject Sequence(string name, params JsonNode[] items) => new() { ["type"] = "Sequence", [name] = new JsonArray(items) };

    private static JsonObject Prepend() => new() { ["type"] = "Prepend", ["prepend"] = "▁" };

    private static JsonObject ReplaceSpace() => new() { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" };

    private static JsonObject Split(string regex) => new() { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = regex }, ["behavior"] = "Isolated", ["invert"] = false };

    private static JsonObject ByteLevelComponent(bool useRegex) => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = useRegex };

    private static JsonObject LlamaDecoder() => Sequence(
        "decoders",
        new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
        new JsonObject { ["type"] = "ByteFallback" },
        new JsonObject { ["type"] = "Fuse" },
        new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 });

    private static JsonObject Template(string token, int id) => new()
    {
        ["type"] = "TemplateProcessing",
        ["single"] = new JsonArray(
            new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = 0 } },
            new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
        ["pair"] = new JsonArray(),
        ["special_tokens"] = new JsonObject { [token] = new JsonObject { ["id"] = token, ["ids"] = new JsonArray(id), ["tokens"] = new JsonArray(token) } },
    };
}
