using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Tokenizers;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>HfTokenizer on small synthetic tokenizer.json files, streaming decode, bounded work and malformed files.</summary>
public sealed class HfTokenizerTests
{
    /// <summary>A SentencePiece-style BPE (Llama 2 layout): Prepend + Replace normalizer, byte fallback, Llama's decoder chain.</summary>
    internal static JsonObject SentencePieceJson(bool byteFallback = true, bool fuseUnk = true)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        tokens.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        string[] merges = ["▁ a", "a b", "▁a b", "▁ h", "▁h i", "▁ ▁"];
        tokens.AddRange(["▁", "a", "b", "h", "i", "x", "<", ">", "m", "s", "k"]);
        tokens.AddRange(merges.Select(m => m.Replace(" ", string.Empty, StringComparison.Ordinal)));
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                AddedToken(0, "<unk>", special: true),
                AddedToken(1, "<s>", special: true),
                AddedToken(2, "</s>", special: true)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["special_tokens"] = new JsonObject { ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("<s>") } },
            },
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["fuse_unk"] = fuseUnk,
                ["byte_fallback"] = byteFallback,
                ["vocab"] = new JsonObject(tokens.Distinct().Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i))),
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode?)m).ToArray()),
            },
        };
    }

    /// <summary>A GPT-2-style byte-level BPE: ByteLevel pre-tokenizer with GPT-2's regex, pair-form merges.</summary>
    internal static JsonObject ByteLevelJson()
    {
        var alphabet = Enumerable.Range(0, 256).Select(ByteLevelChar).ToList();
        string[][] merges = [["h", "e"], ["he", "l"], ["hel", "l"], ["hell", "o"], ["Ġ", "w"], ["Ġw", "o"]];
        var tokens = alphabet.Concat(merges.Select(m => m[0] + m[1])).Append("<|endoftext|>").Distinct().ToList();
        return new JsonObject
        {
            ["added_tokens"] = new JsonArray(AddedToken(tokens.Count - 1, "<|endoftext|>", special: true)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel" },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = new JsonObject(tokens.Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i))),
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode?)new JsonArray(m[0], m[1])).ToArray()),
            },
        };
    }

    private static string ByteLevelChar(int b)
    {
        var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        var next = 256 + Enumerable.Range(0, b).Count(x => !(x is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF));
        return ((char)(printable ? b : next)).ToString();
    }

    internal static JsonObject AddedToken(int id, string content, bool special, bool lstrip = false, bool rstrip = false, bool singleWord = false) => new()
    {
        ["id"] = id,
        ["content"] = content,
        ["single_word"] = singleWord,
        ["lstrip"] = lstrip,
        ["rstrip"] = rstrip,
        ["normalized"] = false,
        ["special"] = special,
    };

    internal static HfTokenizer Load(JsonObject tokenizer, JsonObject? config = null) =>
        HfTokenizer.Load(Encoding.UTF8.GetBytes(tokenizer.ToJsonString()), config is null ? null : Encoding.UTF8.GetBytes(config.ToJsonString()));

    [Fact]
    public void Byte_fallback_encodes_unknown_characters_as_their_utf8_bytes_and_decodes_them_back()
    {
        var tokenizer = Load(SentencePieceJson());
        var encoding = tokenizer.EncodeWithTokens("ab é😀", addSpecialTokens: false);
        Assert.Equal(["▁ab", "▁", "<0xC3>", "<0xA9>", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], encoding.Tokens);
        Assert.Equal("ab é😀", tokenizer.Decode(encoding.Ids));
        Assert.Equal(1, tokenizer.Encode("ab")[0]);
    }

    [Fact]
    public void Invalid_byte_runs_decode_to_one_replacement_character_per_byte()
    {
        var tokenizer = Load(SentencePieceJson());
        int[] ids = [tokenizer.TokenToId("▁a")!.Value, tokenizer.TokenToId("<0xF0>")!.Value, tokenizer.TokenToId("<0x9F>")!.Value, tokenizer.TokenToId("b")!.Value];
        Assert.Equal("a\uFFFD\uFFFDb", tokenizer.Decode(ids));
    }

    [Fact]
    public void Without_byte_fallback_unknown_characters_fuse_into_one_unknown_token()
    {
        var tokenizer = Load(SentencePieceJson(byteFallback: false, fuseUnk: true));
        Assert.Equal(["▁a", "<unk>", "b"], tokenizer.EncodeWithTokens("a€€b", false).Tokens);
        var unfused = Load(SentencePieceJson(byteFallback: false, fuseUnk: false));
        Assert.Equal(["▁a", "<unk>", "<unk>", "b"], unfused.EncodeWithTokens("a€€b", false).Tokens);
    }

    [Fact]
    public void Special_token_strings_in_text_become_their_ids()
    {
        var tokenizer = Load(SentencePieceJson());
        // As in Hugging Face's library each piece between added tokens gets its own "▁": " hi" is "▁▁hi".
        Assert.Equal(["<s>", "▁", "▁hi", "</s>"], tokenizer.EncodeWithTokens("<s> hi</s>", false).Tokens);
        Assert.Equal(" hi", tokenizer.Decode(tokenizer.Encode("<s> hi</s>"), skipSpecialTokens: true));
    }

    [Theory]
    [InlineData(true, false, "a <mask> b", new[] { "▁a", "<mask>", "▁▁", "b" })]
    [InlineData(false, true, "a <mask> b", new[] { "▁a", "▁", "<mask>", "▁", "b" })]
    [InlineData(true, true, "a  <mask>  b", new[] { "▁a", "<mask>", "▁", "b" })]
    [InlineData(false, false, "a <mask> b", new[] { "▁a", "▁", "<mask>", "▁▁", "b" })]
    public void Added_tokens_honour_lstrip_and_rstrip(bool lstrip, bool rstrip, string text, string[] expected)
    {
        var json = SentencePieceJson();
        json["added_tokens"]!.AsArray().Add(AddedToken(1000, "<mask>", special: true, lstrip, rstrip));
        var tokenizer = Load(json);
        Assert.Equal(expected, tokenizer.EncodeWithTokens(text, false).Tokens);
    }

    [Fact]
    public void Single_word_added_tokens_match_only_whole_words()
    {
        var json = SentencePieceJson();
        json["added_tokens"]!.AsArray().Add(AddedToken(1000, "ab", special: false, singleWord: true));
        var tokenizer = Load(json);
        Assert.Contains(1000, tokenizer.Encode("x ab x", false));
        Assert.DoesNotContain(1000, tokenizer.Encode("xab", false));
        Assert.DoesNotContain(1000, tokenizer.Encode("ab_", false));
    }

    [Fact]
    public void Add_bos_and_add_eos_of_the_configuration_replace_the_template()
    {
        var config = new JsonObject { ["add_bos_token"] = false, ["add_eos_token"] = true, ["bos_token"] = "<s>", ["eos_token"] = new JsonObject { ["content"] = "</s>" } };
        var tokenizer = Load(SentencePieceJson(), config);
        Assert.Equal(["▁hi", "</s>"], tokenizer.EncodeWithTokens("hi").Tokens);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal([2], tokenizer.EosTokenIds);
    }

    [Fact]
    public void Clean_up_tokenization_spaces_applies_when_configured()
    {
        var tokenizer = Load(SentencePieceJson(), new JsonObject { ["clean_up_tokenization_spaces"] = true });
        Assert.Equal("hi!", tokenizer.Decode(tokenizer.Encode("hi !", false)));
        Assert.Equal("hi !", Load(SentencePieceJson()).Decode(tokenizer.Encode("hi !", false)));
    }

    [Fact]
    public void Gpt2_style_byte_level_tokenizer_json_encodes_and_decodes()
    {
        var tokenizer = Load(ByteLevelJson());
        var encoding = tokenizer.EncodeWithTokens("hello wo<|endoftext|>é");
        Assert.Equal(["hello", "Ġwo", "<|endoftext|>", "Ã", "©"], encoding.Tokens);
        Assert.Equal("hello wo<|endoftext|>é", tokenizer.Decode(encoding.Ids));
        Assert.Equal("hello woé", tokenizer.Decode(encoding.Ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Metaspace_pre_tokenizer_prepends_and_splits()
    {
        var json = SentencePieceJson();
        json["normalizer"] = null;
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = true };
        json["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first" };
        var tokenizer = Load(json);
        var encoding = tokenizer.EncodeWithTokens("ab hi", false);
        Assert.Equal(["▁ab", "▁hi"], encoding.Tokens);
        Assert.Equal("ab hi", tokenizer.Decode(encoding.Ids));
    }

    [Fact]
    public void Regex_split_treats_a_surrogate_pair_as_one_code_point_as_the_rust_library_does()
    {
        var splitter = RegexSplitter.Create(@"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}", literal: false, "tokenizer.json", "pre_tokenizer");
        Assert.Equal([(0, 4, true)], splitter.Spans("x𝔥y"));
        Assert.Equal([(0, 2, true), (2, 4, true)], splitter.Spans("𝟏𝟐"));
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("qwen3")]
    public void Streaming_decode_never_splits_a_character(string name)
    {
        var tokenizer = HfTokenizerFixtureTests.Tokenizer(name);
        const string text = "Emoji: 😀🎉👍🏽 family 👨‍👩‍👧‍👦 日本語のテキスト 中文分词 한국어 𝔥𝔢𝔩𝔩𝔬 é";
        var ids = tokenizer.Encode(text, addSpecialTokens: false);
        var decoder = tokenizer.CreateStreamingDecoder();
        var pieces = new List<string>();
        foreach (var id in ids)
        {
            var piece = decoder.Add(id);
            Assert.DoesNotContain('\uFFFD', piece);
            Assert.False(piece.Length > 0 && (char.IsHighSurrogate(piece[^1]) || char.IsLowSurrogate(piece[0])), $"'{piece}' splits a surrogate pair");
            pieces.Add(piece);
        }

        pieces.Add(decoder.Flush());
        Assert.Equal(tokenizer.Decode(ids), string.Concat(pieces));
        Assert.True(pieces.Any(p => p.Length == 0), "byte tokens of multi-byte characters should be held back");
    }

    [Fact]
    public void Streaming_decode_flushes_an_incomplete_character_at_the_end()
    {
        var tokenizer = HfTokenizerFixtureTests.Tokenizer("llama2");
        var decoder = tokenizer.CreateStreamingDecoder();
        Assert.Equal("a", decoder.Add(tokenizer.TokenToId("▁a")!.Value));
        Assert.Equal(string.Empty, decoder.Add(tokenizer.TokenToId("<0xF0>")!.Value));
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("qwen3")]
    public void A_long_word_encodes_in_bounded_time(string name)
    {
        var tokenizer = HfTokenizerFixtureTests.Tokenizer(name);
        var word = string.Concat(Enumerable.Repeat("Pneumonoultramicroscopicsilicovolcanoconiosis", 4000));
        var clock = Stopwatch.StartNew();
        var ids = tokenizer.Encode(word, addSpecialTokens: false);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{word.Length} characters took {clock.Elapsed}");
        Assert.Equal(word, tokenizer.Decode(ids));
    }

    [Fact]
    public void Gpt2_regex_matches_microsoft_ml_tokenizers_on_a_real_byte_level_vocabulary()
    {
        // Qwen3's byte-level vocabulary and merges as GPT-2 files: HfTokenizer with GPT-2's ByteLevel
        // pre-tokenizer must encode as TextTokenizer (Microsoft.ML.Tokenizers' CodeGenTokenizer), except
        // on runs of two or more spaces, which CodeGenTokenizer maps to CodeGen's own whitespace tokens
        // (ids from 50257 on, absent from GPT-2's vocabulary) where GPT-2's regex gives "Ġ" pieces.
        var json = JsonNode.Parse(File.ReadAllBytes(Path.Combine(HfTokenizerFixtureTests.Directory("qwen3"), "tokenizer.json")))!.AsObject();
        var model = json["model"]!.AsObject();
        model["vocab"]!.AsObject()["<|endoftext|>"] = 151643;
        var vocab = Encoding.UTF8.GetBytes(model["vocab"]!.ToJsonString());
        var merges = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join('\n', model["merges"]!.AsArray().Select(m => $"{m![0]} {m[1]}")) + "\n");
        var reference = TextTokenizer.ByteLevelBpe(vocab, merges, roberta: false);
        var gpt2 = new JsonObject
        {
            ["model"] = JsonNode.Parse(model.ToJsonString()),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
        };
        var tokenizer = Load(gpt2);
        var failures = new List<string>();
        foreach (var (text, _) in HfTokenizerFixtureTests.Cases("qwen3").Where(c => !c.Text.Contains("<|", StringComparison.Ordinal) && !c.Text.Contains("  ", StringComparison.Ordinal)))
        {
            var expected = reference.Encode(text).InputIds.Select(i => (int)i).ToArray();
            if (!expected.SequenceEqual(tokenizer.Encode(text)))
            {
                failures.Add($"{text}: [{string.Join(',', expected)}] vs [{string.Join(',', tokenizer.Encode(text))}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Theory]
    [InlineData("""{"model": {"type": "Unigram", "vocab": []}}""", "field 'model.type'", "Unigram")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {}}}""", "field 'model.type'", "WordPiece")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}""", "field 'model.merges[0]'", "'b'")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}""", "field 'model.merges[0]'", "'ab'")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}""", "field 'model.vocab.b'", "id 0")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}""", "field 'model.vocab.a'", "outside")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}}""", "field 'model.merges[0]'", "two tokens")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "BertNormalizer"}}""", "field 'normalizer.type'", "BertNormalizer")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}]}}""", "field 'pre_tokenizer.pretokenizers[0].type'", "UnicodeScripts")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a++"}, "behavior": "Isolated"}}""", "field 'pre_tokenizer.pattern.Regex'", "regular expression")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "CTC"}}""", "field 'decoder.type'", "CTC")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Prepend", "prepend": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}}""", "field 'normalizer.prepend'", "300 characters to insert")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "Replace", "pattern": {"String": "a"}, "content": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}}""", "field 'decoder.content'", "more than the 256 accepted")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}, {"type": "Fuse"}]}}""", "field 'decoder'", "33 steps")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "ByteLevel"}]}}""", "field 'pre_tokenizer.pretokenizers[1].type'", "second ByteLevel")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "Metaspace", "replacement": ""}}""", "field 'decoder.replacement'", "one character")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1, "content": 5}]}""", "field 'added_tokens[0].content'", "string")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}""", "field 'model.unk_token'", "<unk>")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {}}}""", "field 'post_processor.single[0].SpecialToken.id'", "<s>")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {"<s>": {"ids": [7], "tokens": ["<s>"]}}}}""", "field 'post_processor'", "id 7")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"\ud800": 0}, "merges": []}}""", "tokenizer.json", "not valid text")]
    [InlineData("""{"model": {"type": "\ud800", "vocab": {}, "merges": []}}""", "field 'model.type'", "not valid text")]
    [InlineData("""{"model": 1}""", "field 'model'", "object")]
    [InlineData("""[1]""", "tokenizer.json", "object")]
    [InlineData("""{"model": """, "tokenizer.json", "JSON")]
    public void Malformed_tokenizer_json_is_a_typed_error_naming_the_field(string json, string where, string what)
    {
        var error = Assert.Throws<ConfigFormatException>(() => HfTokenizer.Load(Encoding.UTF8.GetBytes(json), null));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains(where, error.Message);
        Assert.Contains(what, error.Message);
    }

    [Theory]
    [InlineData("""{"bos_token": 5}""", "field 'bos_token'")]
    [InlineData("""{"bos_token": "<nope>"}""", "field 'bos_token'")]
    [InlineData("""{"eos_token": {"text": "</s>"}}""", "field 'eos_token.content'")]
    [InlineData("""{"add_bos_token": "yes"}""", "field 'add_bos_token'")]
    [InlineData("""{"added_tokens_decoder": {"x": {"content": "a"}}}""", "field 'added_tokens_decoder.x'")]
    [InlineData("""{"added_tokens_decoder": {"1": {"content": "<x>"}}}""", "field 'added_tokens_decoder.1'")]
    public void Malformed_tokenizer_config_is_a_typed_error_naming_the_field(string config, string where)
    {
        var error = Assert.Throws<ConfigFormatException>(() => HfTokenizer.Load(Encoding.UTF8.GetBytes(SentencePieceJson().ToJsonString()), Encoding.UTF8.GetBytes(config)));
        Assert.Contains("tokenizer_config.json", error.Message);
        Assert.Contains(where, error.Message);
    }

    [Fact]
    public void A_long_regex_pattern_is_refused_and_a_long_literal_is_cheap()
    {
        var json = SentencePieceJson();
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = string.Concat(Enumerable.Repeat("\\[", 5000)) }, ["behavior"] = "Isolated" };
        var error = Assert.Throws<ConfigFormatException>(() => Load(json));
        Assert.Contains("field 'pre_tokenizer.pattern.Regex'", error.Message);

        json["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = new string('[', 20000) }, ["behavior"] = "Isolated" };
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(["▁ab"], Load(json).EncodeWithTokens("ab", false).Tokens);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000);
    }

    [Fact]
    public void Load_of_a_directory_without_tokenizer_json_names_the_file()
    {
        var directory = Directory.CreateTempSubdirectory("peftsharp-hftok-").FullName;
        try
        {
            var error = Assert.Throws<ConfigFormatException>(() => HfTokenizer.Load(directory));
            Assert.Contains("tokenizer.json", error.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
