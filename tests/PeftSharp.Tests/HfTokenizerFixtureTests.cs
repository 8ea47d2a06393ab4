using PeftSharp.Models.Tokenizers;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// The tokenizer fixtures of Interop/tokenizers (real tokenizer.json and tokenizer_config.json of a
/// SentencePiece-style BPE with byte fallback and of Qwen3's byte-level BPE): ids, tokens and decoded
/// text must equal Hugging Face's for every text, and the rendered chats must encode to their ids.
/// </summary>
public sealed class HfTokenizerFixtureTests
{
    private static readonly Dictionary<string, HfTokenizer> Loaded = [];

    public static TheoryData<string> Names => ["llama2", "qwen3"];

    internal static string Directory(string name) => Path.Combine(AppContext.BaseDirectory, "Interop", "tokenizers", name);

    internal static HfTokenizer Tokenizer(string name)
    {
        lock (Loaded)
        {
            if (!Loaded.TryGetValue(name, out var tokenizer))
            {
                tokenizer = HfTokenizer.Load(Directory(name));
                Loaded[name] = tokenizer;
            }

            return tokenizer;
        }
    }

    internal static List<(string Text, JsonObject Expected)> Cases(string name)
    {
        var texts = File.ReadAllLines(Path.Combine(Directory(name), "texts.jsonl")).Where(l => l.Length > 0).ToList();
        var expected = File.ReadAllLines(Path.Combine(Directory(name), "expected_ids.jsonl")).Where(l => l.Length > 0).ToList();
        Assert.Equal(texts.Count, expected.Count);
        return texts.Select((t, i) => (JsonNode.Parse(t)!["text"]!.GetValue<string>(), JsonNode.Parse(expected[i])!.AsObject())).ToList();
    }

    private static int[] Ints(JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<int>()).ToArray();

    [Theory]
    [MemberData(nameof(Names))]
    public void Ids_with_special_tokens_match(string name)
    {
        var tokenizer = Tokenizer(name);
        foreach (var (text, expected) in Cases(name))
        {
            Assert.True(Ints(expected["input_ids"]).SequenceEqual(tokenizer.Encode(text)), $"{name}: {text}: got [{string.Join(',', tokenizer.Encode(text))}]");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Ids_and_tokens_without_special_tokens_match(string name)
    {
        var tokenizer = Tokenizer(name);
        foreach (var (text, expected) in Cases(name))
        {
            var encoding = tokenizer.EncodeWithTokens(text, addSpecialTokens: false);
            Assert.True(Ints(expected["ids_no_special"]).SequenceEqual(encoding.Ids), $"{name}: {text}: got [{string.Join(',', encoding.Ids)}] [{string.Join(' ', encoding.Tokens)}]");
            Assert.Equal(expected["tokens_no_special"]!.AsArray().Select(n => n!.GetValue<string>()), encoding.Tokens);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Decoded_text_matches(string name)
    {
        var tokenizer = Tokenizer(name);
        foreach (var (text, expected) in Cases(name))
        {
            Assert.Equal(expected["decoded"]!.GetValue<string>(), tokenizer.Decode(Ints(expected["ids_no_special"])));
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Rendered_chats_encode_to_their_ids(string name)
    {
        var tokenizer = Tokenizer(name);
        var lines = File.ReadAllLines(Path.Combine(Directory(name), "expected_chat.jsonl")).Where(l => l.Length > 0).ToList();
        Assert.NotEmpty(lines);
        foreach (var line in lines)
        {
            var record = JsonNode.Parse(line)!;
            var text = record["text"]!.GetValue<string>();
            Assert.True(Ints(record["input_ids"]).SequenceEqual(tokenizer.Encode(text, addSpecialTokens: false)), $"{name}: {text}: got [{string.Join(',', tokenizer.Encode(text, false))}]");
        }
    }

    [Fact]
    public void Special_tokens_come_from_the_configuration()
    {
        var llama = Tokenizer("llama2");
        Assert.Equal(1, llama.BosTokenId);
        Assert.Equal([2], llama.EosTokenIds);
        Assert.Null(llama.PadTokenId);
        Assert.Equal(0, llama.UnkTokenId);
        Assert.Equal(32000, llama.VocabularySize);
        Assert.Equal("▁Hello", llama.IdToToken(22557));
        Assert.Equal(22557, llama.TokenToId("▁Hello"));

        var qwen = Tokenizer("qwen3");
        Assert.Null(qwen.BosTokenId);
        Assert.Equal([151645], qwen.EosTokenIds);
        Assert.Equal(151643, qwen.PadTokenId);
        Assert.Equal(151669, qwen.VocabularySize);
        Assert.True(qwen.IsSpecial(151644));
        Assert.False(qwen.IsSpecial(151667));
        Assert.True(qwen.IsByteLevel);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Skipping_special_tokens_drops_them_from_the_text(string name)
    {
        var tokenizer = Tokenizer(name);
        var text = name == "llama2" ? "</s>Hi" : "<|im_start|>user\nHi<|im_end|>";
        var decoded = tokenizer.Decode(tokenizer.Encode(text), skipSpecialTokens: true);
        Assert.Equal(name == "llama2" ? "Hi" : "user\nHi", decoded);
    }
}
