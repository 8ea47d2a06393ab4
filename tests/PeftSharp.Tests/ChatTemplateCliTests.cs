using Xunit;

namespace PeftSharp.Tests;

/// <summary><c>peft chat-template</c> on the interop fixtures, and its one-line errors naming file and line.</summary>
public sealed class ChatTemplateCliTests
{
    [Theory]
    [MemberData(nameof(ChatTemplateFixtureTests.Tokenizers), MemberType = typeof(ChatTemplateFixtureTests))]
    public void TheCommandReproducesTheFixture(string name)
    {
        var dir = ChatTemplateFixtureTests.Directory(name);
        var output = Path.Combine(Directory.CreateTempSubdirectory("peftsharp-chat-cli-").FullName, "rendered.jsonl");
        try
        {
            var (code, stdout, stderr) = Cli.Peft("chat-template", "--tokenizer", dir, "--data", Path.Combine(dir, "conversations.jsonl"), "--output", output);
            Assert.True(code == 0, stdout + stderr);
            var expected = ChatTemplateFixtureTests.Cases(name).Select(c => c.Expected).ToList();
            var actual = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!["text"]!.GetValue<string>()).ToList();
            Assert.Equal(expected, actual);
            Assert.Contains($"{expected.Count} conversations rendered", stdout);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
        }
    }

    [Theory]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n\n{\"messages\": [{\"role\": \"assistant\", \"content\": \"b\"}]}\n", ":3: ", "Conversation roles must alternate")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n{\"messages\": \"hi\"}\n", ":2: field 'messages'", "expected a list")]
    [InlineData("{\"messages\": [5]}\n", ":1: field 'messages[0]'", "expected an object")]
    [InlineData("{\"messages\": [], \"add_generation_prompt\": \"yes\"}\n", ":1: field 'add_generation_prompt'", "true or false")]
    [InlineData("not json\n", ":1", "")]
    public void BadRecordsAreOneLineErrorsNamingFileAndLine(string data, string where, string problem)
    {
        var temp = Directory.CreateTempSubdirectory("peftsharp-chat-cli-").FullName;
        try
        {
            var input = Path.Combine(temp, "conversations.jsonl");
            File.WriteAllText(input, data);
            var (code, _, stderr) = Cli.Peft("chat-template", "--tokenizer", ChatTemplateFixtureTests.Directory("llama2"), "--data", input, "--output", Path.Combine(temp, "out.jsonl"));
            Assert.Equal(1, code);
            Assert.StartsWith($"error: {input}{where}", stderr);
            Assert.Contains(problem, stderr);
            Assert.Single(stderr.Trim().Split('\n'));
            Assert.False(File.Exists(Path.Combine(temp, "out.jsonl")));
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    [Fact]
    public void AMissingTokenizerDirectoryIsAUserError()
    {
        var (code, _, stderr) = Cli.Peft("chat-template", "--tokenizer", "/nonexistent/dir", "--data", "x.jsonl", "--output", "y.jsonl");
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
    }
}
