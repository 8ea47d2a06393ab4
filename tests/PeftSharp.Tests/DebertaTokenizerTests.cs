using PeftSharp.Models;
using Xunit;

namespace PeftSharp.Tests;

public sealed class DebertaTokenizerTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-unigram-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>A DeBERTa-v3-shaped tokenizer.json: Unigram pieces with log-probabilities, Lowercase, Metaspace, [CLS] $A [SEP].</summary>
    private static JsonObject TokenizerJson()
    {
        var pieces = new (string, double)[]
        {
            ("[PAD]", 0), ("[CLS]", 0), ("[SEP]", 0), ("[UNK]", 0), ("▁", -2.2), ("▁a", -1.0), ("b", -2.5), ("ab", -1.5),
            ("▁ab", -4.0), ("c", -3.5), ("▁abc", -7.0), ("a", -3.0), ("bc", -2.0),
        };
        var special = new[] { ("[PAD]", 0), ("[CLS]", 1), ("[SEP]", 2), ("[UNK]", 3), ("[MASK]", 13) };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray([.. special.Select(s => (JsonNode)new JsonObject { ["id"] = s.Item2, ["content"] = s.Item1, ["special"] = true })]),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "``" }, ["content"] = "\"" },
                    new JsonObject { ["type"] = "Lowercase" }),
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "always", ["split"] = true },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "[CLS]", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "[SEP]", ["type_id"] = 0 } }),
                ["special_tokens"] = new JsonObject
                {
                    ["[CLS]"] = new JsonObject { ["id"] = "[CLS]", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("[CLS]") },
                    ["[SEP]"] = new JsonObject { ["id"] = "[SEP]", ["ids"] = new JsonArray(2), ["tokens"] = new JsonArray("[SEP]") },
                },
            },
            ["model"] = new JsonObject
            {
                ["type"] = "Unigram", ["unk_id"] = 3, ["byte_fallback"] = false,
                ["vocab"] = new JsonArray([.. pieces.Select(p => (JsonNode)new JsonArray(p.Item1, p.Item2))]),
            },
        };
    }

    private UnigramTokenizer Unigram() => UnigramTokenizer.FromTokenizerJson(new ConfigJson(TokenizerJson(), "tokenizer.json"));

    [Theory]
    // ▁abc: ▁a + bc = −3.0 beats ▁abc (−7.0), ▁ab + c (−7.5), ▁a + b + c (−7.0), ▁ + ab + c (−7.2).
    [InlineData("▁abc", new[] { 5, 12 })]
    // ▁ab: ▁a + b = −3.5 beats ▁ + ab (−3.7) and ▁ab (−4.0).
    [InlineData("▁ab", new[] { 5, 6 })]
    // x has no piece: each becomes [UNK] scored min − 10 = −17, and the two fuse into one.
    [InlineData("▁axxb", new[] { 5, 3, 6 })]
    [InlineData("bc", new[] { 12 })]
    public void ViterbiPicksTheHighestScoringSegmentation(string word, int[] expected) =>
        Assert.Equal(expected, Unigram().Segment(word));

    [Fact]
    public void TextIsNormalizedSplitAtSpacesAndWrappedByTheTemplate()
    {
        File.WriteAllText(Path.Combine(_temp.FullName, "tokenizer.json"), TokenizerJson().ToJsonString());
        var tokenizer = TextTokenizer.TryLoad(_temp.FullName)!;
        Assert.Equal(new long[] { 1, 5, 12, 5, 6, 2 }, tokenizer.Encode("ABC ab").InputIds);
        Assert.Equal(new long[] { 1, 5, 6, 4, 13, 2 }, tokenizer.Encode("ab [MASK]").InputIds);
        Assert.Equal("abc ab", tokenizer.Decode([1, 5, 12, 5, 6, 2]));
        Assert.Equal(0, tokenizer.PadTokenId);
        Assert.Equal(13, tokenizer.MaskTokenId);
        Assert.Equal(14, tokenizer.VocabularySize);
        Assert.Equal(new long[] { 1, 5, 2 }, tokenizer.Encode("abc ab", maxLength: 3).InputIds);
    }

    [Theory]
    [InlineData("model.vocab[1]")]
    [InlineData("model.unk_id")]
    [InlineData("normalizer.normalizers[1].type")]
    [InlineData("pre_tokenizer.type")]
    [InlineData("post_processor.single[0]")]
    public void MalformedFilesAreErrorsNamingTheField(string field)
    {
        var json = TokenizerJson();
        switch (field)
        {
            case "model.vocab[1]": json["model"]!["vocab"]![1] = new JsonArray("x", "nope"); break;
            case "model.unk_id": json["model"]!["unk_id"] = 99; break;
            case "normalizer.normalizers[1].type": json["normalizer"]!["normalizers"]![1] = new JsonObject { ["type"] = "BertNormalizer" }; break;
            case "pre_tokenizer.type": json["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel" }; break;
            case "post_processor.single[0]": json["post_processor"]!["single"]![0] = new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "[BOS]" } }; break;
        }

        File.WriteAllText(Path.Combine(_temp.FullName, "tokenizer.json"), json.ToJsonString());
        var error = Assert.Throws<ConfigFormatException>(() => TextTokenizer.TryLoad(_temp.FullName));
        Assert.Equal(field, error.Field);
        Assert.Contains("tokenizer.json", error.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0xFF, 0xFF, 0x01 })]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 })]
    [InlineData(new byte[0])]
    public void AMalformedSentencePieceModelIsATypedErrorNamingTheFile(byte[] bytes)
    {
        File.WriteAllBytes(Path.Combine(_temp.FullName, "spm.model"), bytes);
        var error = Assert.Throws<ConfigFormatException>(() => TextTokenizer.TryLoad(_temp.FullName));
        Assert.Contains("spm.model", error.Message);
    }
}
