using PeftSharp.Models.Chat;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The chat-template fixtures of /work/shared/interop/tokenizers: every conversation renders exactly as transformers (Jinja2) renders it.</summary>
public sealed class ChatTemplateFixtureTests
{
    public static TheoryData<string> Tokenizers => ["llama2", "qwen3"];

    public static string Directory(string name) => Path.Combine(AppContext.BaseDirectory, "Interop", "tokenizers", name);

    /// <summary>The fixture's conversations and expected renders, paired by line.</summary>
    public static List<(JsonObject Record, string Expected)> Cases(string name)
    {
        var conversations = File.ReadAllLines(Path.Combine(Directory(name), "conversations.jsonl")).Where(l => l.Length > 0).ToList();
        var expected = File.ReadAllLines(Path.Combine(Directory(name), "expected_chat.jsonl")).Where(l => l.Length > 0).ToList();
        Assert.Equal(conversations.Count, expected.Count);
        return conversations.Select((c, i) => (JsonNode.Parse(c)!.AsObject(), JsonNode.Parse(expected[i])!["text"]!.GetValue<string>())).ToList();
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void EveryConversationRendersExactly(string name)
    {
        var template = ChatTemplate.Load(Directory(name));
        var cases = Cases(name);
        Assert.NotEmpty(cases);
        foreach (var (record, expected) in cases)
        {
            var messages = record["messages"]!.AsArray().Select(m => m!.AsObject()).ToList();
            Assert.Equal(expected, template.Render(messages, record["add_generation_prompt"]!.GetValue<bool>()));
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void TheLoaderGathersTheSpecialTokensTransformersPasses(string name)
    {
        var template = ChatTemplate.Load(Directory(name));
        var vars = JsonNode.Parse(File.ReadAllText(Path.Combine(Directory(name), "chat_vars.json")))!.AsObject();
        var expected = vars.Where(p => p.Key is not ("tools" or "documents")).ToDictionary(p => p.Key, p => p.Value!.ToJsonString());
        var actual = template.SpecialTokens.ToDictionary(p => p.Key, p => JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(p.Value))!.ToJsonString());
        Assert.Equal(expected.OrderBy(p => p.Key), actual.OrderBy(p => p.Key));
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void TheFixtureVariablesGiveTheSameRenders(string name)
    {
        var template = ChatTemplate.Parse(ChatTemplate.Load(Directory(name)).Source);
        var vars = JsonNode.Parse(File.ReadAllText(Path.Combine(Directory(name), "chat_vars.json")))!.AsObject();
        var variables = vars.ToDictionary(p => p.Key, p => (object?)p.Value?.DeepClone());
        foreach (var (record, expected) in Cases(name))
        {
            var messages = record["messages"]!.AsArray().Select(m => m!.AsObject()).ToList();
            Assert.Equal(expected, template.Render(messages, record["add_generation_prompt"]!.GetValue<bool>(), variables));
        }
    }
}
