using PeftSharp.Models.Chat;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training.CausalLanguageModeling;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// What <c>peft train</c> reports after a causal-LM run of the bundled decoder: validation loss and
/// perplexity, the loss plot, and — for prompt/completion and messages data — the published adapter's
/// greedy generations on the held-out records scored by the task's metrics, with samples (report.md and
/// results.json); plain text has no reference, so its report says generation was not run.
/// </summary>
public sealed class CausalLmReportTests : IDisposable
{
    private static readonly string[] Words = ["cat", "dog", "tree", "bird", "cup", "book", "lamp", "road"];
    private readonly string _temp = Directory.CreateTempSubdirectory("peft-causal-report-").FullName;

    private static string Decoder => Path.Combine(BundledDemoTests.Repository(), "models", "decoder");

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void PromptCompletionRunReportsPerplexityAndTheBestAdaptersGenerationsAsPeftEvalScoresThem()
    {
        var data = TaskFolder(i => new JsonObject { ["prompt"] = $"Plural of {Words[i % Words.Length]}:", ["completion"] = $" {Words[i % Words.Length]}s" });
        var (run, report, results) = Train(data, "prompt/completion");
        var evaluations = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Where(r => r["eval_loss"] is not null).ToList();
        Assert.Equal(2, evaluations.Count);
        var best = evaluations.MinBy(r => (double)r["perplexity"]!)!;
        Assert.Equal((int)best["step"]!, (int)results["best_step"]!);
        Assert.Equal((double)best["eval_loss"]!, (double)results["eval_loss"]!, 12);
        Assert.Equal("best", (string?)results["adapter"]);

        var generation = results["generation"]!;
        Assert.Equal("test.jsonl", (string?)generation["file"]);
        Assert.Equal(6, (int)generation["records"]!);
        Assert.Equal(3, (int)generation["count"]!);
        var samples = generation["samples"]!.AsArray();
        Assert.Equal(["Plural of cat:", "Plural of dog:", "Plural of tree:"], samples.Select(s => (string)s!["prompt"]!));
        Assert.Equal(["cats", "dogs", "trees"], samples.Select(s => (string)s!["reference"]!));
        // The metrics, counted again from the samples: exact matches, and token edits against a one-token reference.
        var generated = samples.Select(s => ((string)s!["reference"]!, ((string)s["generated"]!).Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToList();
        Assert.Equal(generated.Count(g => g.Item2.Length == 1 && g.Item2[0] == g.Item1) / 3.0, (double)generation[GenerationMetrics.ExactMatch]!, 12);
        Assert.Equal(generated.Sum(g => g.Item2.Length == 0 ? 1 : g.Item2.Contains(g.Item1) ? g.Item2.Length - 1 : g.Item2.Length) / 3.0, (double)generation[GenerationMetrics.TokenErrorRate]!, 12);

        // The published best adapter, scored by `peft eval` in another process, generates the same.
        var firstThree = Path.Combine(_temp, "first-three.jsonl");
        File.WriteAllLines(firstThree, File.ReadLines(Path.Combine(data, "test.jsonl")).Take(3));
        var (code, stdout, error) = Cli.Peft("eval", "--base", Decoder, "--adapter", Path.Combine(run, "best"), "--data", firstThree, "--generation-metrics", "word_accuracy");
        Assert.True(code == 0, stdout + error);
        var eval = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.Equal(samples.Select(s => (string)s!["generated"]!), eval["samples"]!.AsArray().Select(s => (string)s!["generated"]!));
        Assert.Equal((double)eval[GenerationMetrics.WordAccuracy]!, (double)generation[GenerationMetrics.ExactMatch]!, 12);

        Assert.Contains("# peft train: lora (causal LM)", report);
        Assert.Contains("## Generation on test.jsonl", report);
        Assert.Contains("for the first 3 of 6 records", report);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"| exact_match (higher is better) | {(double)generation[GenerationMetrics.ExactMatch]!:F4} |"), report);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"| token_error_rate (lower is better) | {(double)generation[GenerationMetrics.TokenErrorRate]!:F4} |"), report);
        Assert.Contains("| prompt | reference | generated |", report);
        Assert.Contains($"| Plural of dog: | dogs | {(string)samples[1]!["generated"]!} |", report);
    }

    [Fact]
    public void AnUnknownGenerationMetricIsRefusedNamingTheOptionAndTheKnownOnes()
    {
        var (code, stdout, error) = Cli.Peft("eval", "--base", Decoder, "--adapter", _temp, "--data", _temp, "--generation-metrics", "exact_match", "bleu");
        Assert.NotEqual(0, code);
        var message = stdout + error;
        Assert.Contains("--generation-metrics", message);
        Assert.Contains("bleu", message);
        Assert.Contains("token_error_rate", message);
    }

    [Fact]
    public void MessagesRunGeneratesTheAssistantsReplyToTheConversationBeforeIt()
    {
        var data = TaskFolder(i => new JsonObject
        {
            ["messages"] = new JsonArray(Message("system", "Answer with one word."), Message("user", $"Plural of {Words[i % Words.Length]}?"), Message("assistant", $"{Words[i % Words.Length]}s")),
        });
        var (_, report, results) = Train(data, "messages");
        Assert.Contains("## Generation on test.jsonl", report);
        Assert.Contains("| exact_match (higher is better) |", report);
        Assert.DoesNotContain("phoneme_error_rate", report);
        Assert.Contains("| prompt | reference | generated |", report);
        // The prompt column shows the message the reply answers; the reference is the reply.
        Assert.Contains("| Plural of cat? | cats |", report);
        Assert.Contains("| Plural of tree? | trees |", report);
        Assert.Equal(3, (int)results["generation"]!["count"]!);
    }

    [Fact]
    public void TextRunReportsLossAndPerplexityOnlyAndSaysWhy()
    {
        var data = TaskFolder(i => new JsonObject { ["text"] = $"The plural of {Words[i % Words.Length]} is {Words[i % Words.Length]}s." });
        var (_, report, results) = Train(data, "text");
        Assert.Contains("Not run: test.jsonl holds `text` records", report);
        Assert.DoesNotContain("| prompt | reference | generated |", report);
        Assert.DoesNotContain("exact_match", report);
        Assert.Null(results["generation"]);
    }

    [Fact]
    public void AConversationIsPromptedAsTheChatTemplateRendersIt()
    {
        // The bundled tokenizer adds no special tokens, so a prompt of the rendered text is encoded as the conversation is.
        var tokenizer = HfTokenizer.Load(Decoder);
        Assert.Equal(tokenizer.Encode("a b", addSpecialTokens: false), tokenizer.Encode("a b", addSpecialTokens: true));
        JsonObject[] conversation = [Message("user", "Plural of cat?")];
        var rendered = ChatTemplate.Load(Decoder).Render(conversation, addGenerationPrompt: true);
        using var model = (DecoderForCausalLM)Models.PretrainedModel.FromPretrained(Decoder);
        var evaluator = CausalLmSetup.Evaluator(Decoder, []);
        var asConversation = evaluator.Generate(model, [new GenerationExample("Plural of cat?", "cats") { Messages = conversation }]);
        var asText = evaluator.Generate(model, [new GenerationExample(rendered, "cats")]);
        var asBarePrompt = evaluator.Generate(model, [new GenerationExample("Plural of cat?", "cats")]);
        Assert.Equal(asText[0].Generated, asConversation[0].Generated);
        Assert.Equal("Plural of cat?", asConversation[0].Prompt);
        Assert.NotEqual(asBarePrompt[0].Generated, asConversation[0].Generated);
    }

    [Fact]
    public void CompletionsEndAtANewlineUnlessAReferenceSpansLines()
    {
        GenerationExample[] oneLine = [new("Plural of cat:", " cats\n"), new("Plural of dog:", " dogs")];
        Assert.True(CausalLmSetup.Evaluator(Decoder, oneLine).Options.StopAtNewline);
        Assert.False(CausalLmSetup.Evaluator(Decoder, [.. oneLine, new("Two plurals:", " cats\ndogs")]).Options.StopAtNewline);
        Assert.Equal(new GenerativeEvaluatorOptions().Metrics, CausalLmSetup.Evaluator(Decoder, oneLine).Options.Metrics);
    }

    [Fact]
    public void HeldOutConversationsMustEndWithTheAssistantsReply()
    {
        var path = Path.Combine(_temp, "held-out.jsonl");
        File.WriteAllLines(path,
        [
            new JsonObject { ["messages"] = new JsonArray(Message("user", "Plural of cat?"), Message("assistant", "cats")) }.ToJsonString(),
            new JsonObject { ["messages"] = new JsonArray(Message("user", "Plural of dog?"), Message("assistant", "dogs"), Message("user", "And tree?")) }.ToJsonString(),
        ]);
        var error = Assert.Throws<ConfigFormatException>(() => GenerationExample.ReadJsonLines(path));
        Assert.Contains($"{path}:2", error.Message);
        Assert.Equal("messages[2].role", error.Field);

        File.WriteAllText(path, new JsonObject { ["messages"] = new JsonArray(Message("user", "Plural of cat?"), Message("assistant", " ")) }.ToJsonString());
        Assert.Equal("messages[1].content", Assert.Throws<ConfigFormatException>(() => GenerationExample.ReadJsonLines(path)).Field);
    }

    [Fact]
    public void BadHeldOutRecordsStopTheRunBeforeTraining()
    {
        var data = TaskFolder(i => new JsonObject { ["prompt"] = $"Plural of {Words[i % Words.Length]}:", ["completion"] = $" {Words[i % Words.Length]}s" });
        File.AppendAllText(Path.Combine(data, "test.jsonl"), "{\"prompt\": \"Plural of cup:\"}\n");
        var run = Path.Combine(_temp, "run");
        var (code, stdout, error) = Cli.Peft("train", "--base", Decoder, "--data", data, "--steps", "2", "--batch-size", "4", "--max-length", "32", "--output", run);
        Assert.Equal(1, code);
        Assert.Contains("test.jsonl:7", error);
        Assert.Contains("completion", error);
        Assert.False(File.Exists(Path.Combine(run, "metrics.jsonl")), stdout);
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    /// <summary>A task folder: 16 train, 4 validation and 6 test records made by <paramref name="record"/> from their index.</summary>
    private string TaskFolder(Func<int, JsonObject> record)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_temp, "task")).FullName;
        foreach (var (split, from, count) in new[] { ("train", 0, 16), ("validation", 1, 4), ("test", 0, 6) })
        {
            File.WriteAllLines(Path.Combine(folder, $"{split}.jsonl"), Enumerable.Range(from, count).Select(i => record(i).ToJsonString()));
        }

        return folder;
    }

    /// <summary>
    /// Four LoRA steps of the bundled decoder on <paramref name="data"/> (<paramref name="format"/> records), evaluated every two,
    /// three held-out records generated; checks what every causal report holds (validation perplexity = exp(loss), the loss plot)
    /// and returns the run folder, report.md and results.json.
    /// </summary>
    private (string Run, string Report, JsonNode Results) Train(string data, string format)
    {
        var run = Path.Combine(_temp, "run");
        var (code, stdout, error) = Cli.Peft("train", "--base", Decoder, "--data", data, "--method", "lora", "--steps", "4", "--eval-every", "2", "--batch-size", "4", "--max-length", "32", "--lr", "0.005", "--eval-limit", "3", "--output", run);
        Assert.True(code == 0, stdout + error);
        Assert.Contains("report: ", stdout);
        var report = File.ReadAllText(Path.Combine(run, "report.md"));
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "results.json")))!;
        Assert.Contains($"; {format} records, max length 32", report);
        Assert.Contains("## Validation loss and perplexity", report);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"| validation (best) | {(int)results["best_step"]!} | {(double)results["eval_loss"]!:F4} | {(double)results["perplexity"]!:F4} |"), report);
        Assert.Equal(Math.Exp((double)results["eval_loss"]!), (double)results["perplexity"]!, 9);
        Assert.Contains("![loss](loss.png)", report);
        Cli.AssertPng(Path.Combine(run, "loss.png"));
        return (run, report, results);
    }
}
