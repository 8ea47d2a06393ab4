using Xunit;

namespace PeftSharp.Tests;

/// <summary><c>peft tokenize</c> on the tokenizer fixtures and on bad input.</summary>
public sealed class TokenizeCommandTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peftsharp-tokenize-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Theory]
    [InlineData("llama2", false)]
    [InlineData("llama2", true)]
    [InlineData("qwen3", false)]
    [InlineData("qwen3", true)]
    public void Tokenize_reproduces_the_fixture_ids(string name, bool noSpecialTokens)
    {
        var directory = HfTokenizerFixtureTests.Directory(name);
        var output = Path.Combine(_temp, "ids.jsonl");
        string[] args = ["tokenize", "--tokenizer", directory, "--data", Path.Combine(directory, "texts.jsonl"), "--output", output];
        var (code, stdout, stderr) = Cli.Peft(noSpecialTokens ? [.. args, "--no-special-tokens"] : args);
        Assert.True(code == 0, stdout + stderr);

        var expected = File.ReadAllLines(Path.Combine(directory, "expected_ids.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToList();
        var actual = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i][noSpecialTokens ? "ids_no_special" : "input_ids"]!.ToJsonString(), actual[i]["input_ids"]!.ToJsonString());
            if (noSpecialTokens)
            {
                Assert.Equal(expected[i]["tokens_no_special"]!.ToJsonString(), actual[i]["tokens"]!.ToJsonString());
            }
        }
    }

    [Theory]
    [InlineData("{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", "texts.jsonl:2: field 'text'")]
    [InlineData("{\"text\": \"a\"}\n\n[1]\n", "texts.jsonl:3")]
    [InlineData("{\"text\": 5}\n", "texts.jsonl:1: field 'text'")]
    [InlineData("{\"text\": \"a\"\n", "texts.jsonl:1: not valid JSON")]
    public void Bad_records_are_errors_naming_file_and_line(string data, string message)
    {
        var input = Path.Combine(_temp, "texts.jsonl");
        File.WriteAllText(input, data);
        var output = Path.Combine(_temp, "ids.jsonl");
        var (code, _, stderr) = Cli.Peft("tokenize", "--tokenizer", HfTokenizerFixtureTests.Directory("qwen3"), "--data", input, "--output", output);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains(message, stderr);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(output + ".tmp"));
    }

    [Fact]
    public void A_directory_without_tokenizer_json_is_an_error_naming_the_file()
    {
        var input = Path.Combine(_temp, "texts.jsonl");
        File.WriteAllText(input, "{\"text\": \"a\"}\n");
        var (code, _, stderr) = Cli.Peft("tokenize", "--tokenizer", _temp, "--data", input, "--output", Path.Combine(_temp, "ids.jsonl"));
        Assert.Equal(1, code);
        Assert.Contains("tokenizer.json", stderr);
        Assert.DoesNotContain('\n', stderr.TrimEnd());
    }
}
