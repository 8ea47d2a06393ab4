using PeftSharp.Models.Tokenizers;

namespace PeftSharp.Fuzzing;

/// <summary>
/// <see cref="HfTokenizer.Load(byte[], byte[], string, string)"/> on tokenizer.json and
/// tokenizer_config.json of both decoder-LLM families (byte-level BPE; SentencePiece-style BPE with
/// byte fallback). An input is tokenizer.json, then optionally a zero byte and tokenizer_config.json
/// (JSON text never holds a zero byte). Seeds are small files in the real layouts; with seed
/// directories the real files join them, whole and with their vocabulary cut to its first 2,000 ids.
/// Structural mutations cut the vocabulary, corrupt merges, swap components for other (valid,
/// unknown or malformed) ones, edit the model's flags and the added tokens, and mutate the
/// configuration. An accepted tokenizer must encode, decode and stream-decode a few texts with every
/// id inside its vocabulary.
/// </summary>
public sealed class HfTokenizerFuzzTarget : FuzzTarget
{
    /// <summary>The name used by <c>peft fuzz</c>.</summary>
    public const string TargetName = "hf-tokenizer";

    private static readonly string[] Texts =
    [
        "Hello, world! The tokenizer's text: naïve café 123\t\u00A0end.\r\n  two  spaces ",
        "<s> hi </s><unk><|im_start|>user\nHi<|im_end|>\n<think>x</think><|endoftext|><|begin_of_text|>Hello World",
        "日本語のテキスト 中文 한국어 Ελληνικά 😀👨‍👩‍👧‍👦🇺🇸 𝔥𝔢𝔩𝔩𝔬 𝟏𝟐 é \u0007▁<0x41>",
        string.Concat(Enumerable.Repeat("helloworldtokenizer", 40)),
        string.Empty,
    ];

    private static readonly string[] ComponentFields = ["normalizer", "pre_tokenizer", "post_processor", "decoder"];
    private static readonly string[] ModelFields = ["type", "unk_token", "byte_fallback", "fuse_unk", "ignore_merges", "dropout", "continuing_subword_prefix", "end_of_word_suffix", "vocab", "merges"];
    private static readonly string[] AddedTokenFields = ["id", "content", "special", "lstrip", "rstrip", "single_word", "normalized"];

    private readonly IReadOnlyList<string> _seedDirectories;
    private readonly JsonNode?[] _components = HfTokenizerSeeds.Components();
    private readonly JsonNode?[] _values = HfTokenizerSeeds.Values();
    private readonly JsonFuzzMutator _configMutator = new(
        ["bos_token", "eos_token", "pad_token", "unk_token", "add_bos_token", "add_eos_token", "clean_up_tokenization_spaces", "added_tokens_decoder", "content", "special", "lstrip", "rstrip", "0", "1"],
        ["<s>", "</s>", "<unk>", "<|im_end|>", "<nope>", true, false, 0, 1, new JsonObject { ["content"] = "<s>" }, new JsonObject { ["content"] = 5 }, new JsonObject { ["1"] = new JsonObject { ["content"] = "<x>" } }]);

    /// <summary>A target with the built-in small seeds only.</summary>
    public HfTokenizerFuzzTarget()
        : this([])
    {
    }

    /// <summary>A target that also seeds with the tokenizer.json (and tokenizer_config.json) of each directory of <paramref name="seedDirectories"/>.</summary>
    public HfTokenizerFuzzTarget(IReadOnlyList<string> seedDirectories)
    {
        ArgumentNullException.ThrowIfNull(seedDirectories);
        _seedDirectories = seedDirectories;
    }

    /// <inheritdoc />
    public override string Name => TargetName;

    /// <inheritdoc />
    public override string Description => "Feed HfTokenizer (tokenizer.json + tokenizer_config.json of byte-level and byte-fallback BPE) mutated files and random bytes.";

    /// <summary>
    /// 1,024 bytes per input byte: a vocabulary costs about 64 per byte (each token a UTF-16 string, a
    /// dictionary entry each way, a merge entry, the JSON index), but text the file adds to every
    /// encode (a long Prepend or Replace content) is encoded, decoded and stream-decoded ten times by
    /// the use step: 700 bytes per byte measured.
    /// </summary>
    public override long AllocationFactor => 1024;

    /// <summary>
    /// 8 MiB: the use step's fixed work, about 4 MiB measured: five texts encoded twice, decoded, and
    /// stream-decoded (a window decode per id), plus the regex interpreters.
    /// </summary>
    public override long AllocationConstant => 8L << 20;

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed)
    {
        var seeds = new List<byte[]>
        {
            Input(HfTokenizerSeeds.SentencePiece()),
            Input(HfTokenizerSeeds.Qwen()),
            Input(HfTokenizerSeeds.Gpt2()),
            Input(HfTokenizerSeeds.Llama3()),
            Input(HfTokenizerSeeds.Metaspace()),
        };
        foreach (var directory in _seedDirectories)
        {
            var tokenizer = File.ReadAllBytes(Path.Combine(directory, HfTokenizer.TokenizerFileName));
            var configPath = Path.Combine(directory, HfTokenizer.ConfigFileName);
            var config = File.Exists(configPath) ? File.ReadAllBytes(configPath) : null;
            seeds.Add(Join(tokenizer, config));
            var reduced = JsonNode.Parse(tokenizer)!.AsObject();
            CutVocabulary(reduced, 2000, keepMergesConsistent: true);
            seeds.Add(Join(Encoding.UTF8.GetBytes(reduced.ToJsonString()), config));
        }

        return seeds;
    }

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        var split = Array.IndexOf(input, (byte)0);
        var tokenizerJson = split < 0 ? input : input[..split];
        var config = split < 0 ? null : input[(split + 1)..];
        var tokenizer = HfTokenizer.Load(tokenizerJson, config);
        Use(tokenizer);
        return 0;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        var split = Array.IndexOf(seed, (byte)0);
        var tokenizerJson = split < 0 ? seed : seed[..split];
        var config = split < 0 ? null : seed[(split + 1)..];
        switch (random.Next(10))
        {
            case < 3 when config is not null:
                return Join(tokenizerJson, _configMutator.Mutate(config, random, seeds));
            case 3:
                return Join(tokenizerJson, random.Next(2) == 0 ? null : Encoding.UTF8.GetBytes(new JsonObject { ["bos_token"] = "<s>", ["add_bos_token"] = true, ["add_eos_token"] = true, ["eos_token"] = "</s>" }.ToJsonString()));
            default:
                var root = JsonNode.Parse(tokenizerJson)!.AsObject();
                var count = random.Next(1, 3);
                for (var i = 0; i < count; i++)
                {
                    MutateTokenizer(root, random);
                }

                return Join(Encoding.UTF8.GetBytes(root.ToJsonString()), config);
        }
    }

    private void MutateTokenizer(JsonObject root, Random random)
    {
        var model = root["model"] as JsonObject;
        switch (random.Next(7))
        {
            case 0 when model is not null:
                CutVocabulary(root, random.Next(0, 400), keepMergesConsistent: random.Next(2) == 0);
                break;
            case 1 when model is not null && model["merges"] is JsonArray { Count: > 0 } merges:
                var at = random.Next(merges.Count);
                merges[at] = random.Next(3) switch
                {
                    0 => _values[random.Next(_values.Length)]?.DeepClone(),
                    1 => Reversed(merges[at]),
                    _ => merges[random.Next(merges.Count)]?.DeepClone(),
                };
                break;
            case 2:
                root[ComponentFields[random.Next(ComponentFields.Length)]] = _components[random.Next(_components.Length)]?.DeepClone();
                break;
            case 3 when model is not null:
                model[ModelFields[random.Next(ModelFields.Length)]] = _values[random.Next(_values.Length)]?.DeepClone();
                break;
            case 4 when root["added_tokens"] is JsonArray added:
                MutateAddedTokens(added, model, random);
                break;
            case 5 when model is not null && model["vocab"] is JsonObject vocab && vocab.Count > 0:
                var (key, _) = vocab.ElementAt(random.Next(vocab.Count));
                vocab[key] = _values[random.Next(_values.Length)]?.DeepClone();
                break;
            default:
                root.Remove(ComponentFields[random.Next(ComponentFields.Length)]);
                break;
        }
    }

    private void MutateAddedTokens(JsonArray added, JsonObject? model, Random random)
    {
        var vocabularySize = (model?["vocab"] as JsonObject)?.Count ?? 0;
        if (added.Count == 0 || random.Next(3) == 0)
        {
            added.Add(new JsonObject
            {
                ["id"] = new[] { 0, 1, vocabularySize, vocabularySize + 1000, -1, 16777216 }[random.Next(6)],
                ["content"] = _values[random.Next(_values.Length)]?.DeepClone(),
                ["special"] = random.Next(2) == 0,
                ["lstrip"] = random.Next(2) == 0,
                ["rstrip"] = random.Next(2) == 0,
                ["single_word"] = random.Next(2) == 0,
                ["normalized"] = random.Next(2) == 0,
            });
            return;
        }

        var at = random.Next(added.Count);
        if (random.Next(4) == 0)
        {
            added.RemoveAt(at);
        }
        else if (added[at] is JsonObject token)
        {
            token[AddedTokenFields[random.Next(AddedTokenFields.Length)]] = random.Next(2) == 0 ? JsonValue.Create(random.Next(2) == 0) : _values[random.Next(_values.Length)]?.DeepClone();
        }
    }

    /// <summary>Keeps the vocabulary's first <paramref name="keep"/> ids; optionally drops the merges that no longer fit.</summary>
    private static void CutVocabulary(JsonObject root, int keep, bool keepMergesConsistent)
    {
        if (root["model"] is not JsonObject model || model["vocab"] is not JsonObject vocab)
        {
            return;
        }

        var kept = vocab
            .Where(p => p.Value is JsonValue v && v.TryGetValue<int>(out var id) && id < keep)
            .Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))
            .ToList();
        model["vocab"] = new JsonObject(kept);
        if (!keepMergesConsistent || model["merges"] is not JsonArray merges)
        {
            return;
        }

        var names = kept.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        var fitting = merges.Where(m => Parts(m) is var (left, right) && names.Contains(left) && names.Contains(right) && names.Contains(left + right)).Select(m => m?.DeepClone()).ToArray();
        model["merges"] = new JsonArray(fitting);
    }

    /// <summary>A merge in the other form: <c>"a b"</c> as <c>["a", "b"]</c> and the reverse.</summary>
    private static JsonNode? Reversed(JsonNode? merge) => Parts(merge) is var (left, right)
        ? merge is JsonArray ? JsonValue.Create($"{left} {right}") : new JsonArray(left, right)
        : merge?.DeepClone();

    private static (string, string)? Parts(JsonNode? merge) => merge switch
    {
        JsonArray { Count: 2 } pair when pair[0] is JsonValue l && l.TryGetValue<string>(out var left) && pair[1] is JsonValue r && r.TryGetValue<string>(out var right) => (left, right),
        JsonValue value when value.TryGetValue<string>(out var text) && text.Split(' ') is [var left, var right] => (left, right),
        _ => null,
    };

    /// <summary>Checks that an accepted tokenizer is usable: encodes, decodes and stream-decodes the texts, every id known.</summary>
    private static void Use(HfTokenizer tokenizer)
    {
        foreach (var text in Texts)
        {
            foreach (var addSpecialTokens in new[] { true, false })
            {
                var encoding = tokenizer.EncodeWithTokens(text, addSpecialTokens);
                foreach (var id in encoding.Ids)
                {
                    if (id < 0 || id >= tokenizer.VocabularySize || tokenizer.IdToToken(id) is null)
                    {
                        throw new InvalidOperationException($"an accepted tokenizer produced id {id}, not a token of its vocabulary of {tokenizer.VocabularySize}");
                    }
                }

                _ = tokenizer.Decode(encoding.Ids, skipSpecialTokens: addSpecialTokens);
                var stream = tokenizer.CreateStreamingDecoder();
                foreach (var id in encoding.Ids)
                {
                    _ = stream.Add(id);
                }

                _ = stream.Flush();
            }
        }

        foreach (var id in new[] { tokenizer.BosTokenId, tokenizer.PadTokenId, tokenizer.UnkTokenId }.Concat(tokenizer.EosTokenIds.Select(i => (int?)i)))
        {
            if (id is { } known && tokenizer.IdToToken(known) is null)
            {
                throw new InvalidOperationException($"special token id {known} is not a token");
            }
        }
    }

    private static byte[] Input((JsonObject Tokenizer, JsonObject? Config) files) =>
        Join(Encoding.UTF8.GetBytes(files.Tokenizer.ToJsonString()), files.Config is null ? null : Encoding.UTF8.GetBytes(files.Config.ToJsonString()));

    private static byte[] Join(byte[] tokenizer, byte[]? config) => config is null ? tokenizer : [.. tokenizer, 0, .. config];

    /// <inheritdoc />
    public override bool IsTyped(Exception exception) => exception is ConfigFormatException || base.IsTyped(exception);
}
