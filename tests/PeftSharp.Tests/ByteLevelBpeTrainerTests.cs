using PeftSharp.Training;
using Xunit;

namespace PeftSharp.Tests;

public sealed class ByteLevelBpeTrainerTests
{
    [Fact]
    public void MergesTheMostFrequentPairFirstAndBreaksTiesInOrdinalOrder()
    {
        // "low" ×5, "lower" ×2, "newest" ×6, "widest" ×3 (Sennrich et al.'s example, without spaces).
        var texts = Enumerable.Repeat("low", 5).Concat(Enumerable.Repeat("lower", 2)).Concat(Enumerable.Repeat("newest", 6)).Concat(Enumerable.Repeat("widest", 3));
        var (vocabulary, merges) = ByteLevelBpeTrainer.Train(texts, 256 + 1 + 4, ["<|endoftext|>"]);
        // e s (9), then es t (9), then l o (7), then lo w (7).
        Assert.Equal([("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w")], merges);
        Assert.Equal("<|endoftext|>", vocabulary[0]);
        Assert.Equal(["es", "est", "lo", "low"], vocabulary.Skip(257));
    }

    [Fact]
    public void WorksOnBytesSoAnyTextIsCovered()
    {
        var (vocabulary, merges) = ByteLevelBpeTrainer.Train(["héllo héllo 日本 日本 🙂🙂"], 300, []);
        Assert.Equal(256 + merges.Count, vocabulary.Count);
        Assert.Contains(vocabulary, token => token.Contains(ByteLevelBpeTrainer.ToByteSymbols("é"), StringComparison.Ordinal) && token.Length > 2);
        Assert.All(vocabulary, token => Assert.All(token, c => Assert.Contains(c, ByteLevelBpeTrainer.ByteSymbols)));
        Assert.Equal(256, ByteLevelBpeTrainer.ByteSymbols.Distinct().Count());
        Assert.Equal('Ġ', ByteLevelBpeTrainer.ByteSymbols[' ']);
    }

    [Fact]
    public void StopsWhenNoPairOccursTwice()
    {
        var (_, merges) = ByteLevelBpeTrainer.Train(["abcd"], 1000, []);
        Assert.Empty(merges);
    }

    [Fact]
    public void TokenizerJsonHoldsTheVocabularyMergesAndSpecialTokens()
    {
        var special = new[] { "<|endoftext|>", "<|pad|>" };
        var (vocabulary, merges) = ByteLevelBpeTrainer.Train(["the cat the hat the bat"], 270, special);
        var json = JsonNode.Parse(ByteLevelBpeTrainer.ToTokenizerJson(vocabulary, merges, special))!;
        Assert.Equal("BPE", (string?)json["model"]!["type"]);
        Assert.Equal(vocabulary.Count, json["model"]!["vocab"]!.AsObject().Count);
        Assert.Equal(1, (int)json["model"]!["vocab"]!["<|pad|>"]!);
        Assert.Equal(merges.Count, json["model"]!["merges"]!.AsArray().Count);
        Assert.Equal("<|pad|>", (string?)json["added_tokens"]![1]!["content"]);
        Assert.True((bool)json["added_tokens"]![1]!["special"]!);
        Assert.Equal("ByteLevel", (string?)json["pre_tokenizer"]!["type"]);
    }
}
