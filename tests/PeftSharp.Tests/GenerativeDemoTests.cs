using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using Xunit;

namespace PeftSharp.Tests;

/// <summary><c>peft demo --task g2p</c>: the bundled decoder fine-tuned on a slice of g2p with two methods for two steps.</summary>
public sealed class GenerativeDemoTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peft-gdemo-").FullName;

    private static string Decoder => Path.Combine(BundledDemoTests.Repository(), "models", "decoder");

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void EveryRowScoresTheGenerationsOfItsTrainedAdapterAsAnIndependentCountDoes()
    {
        var data = TinyG2p();
        var methods = CausalLmSetup.TrainableMethods().Take(2).Select(m => m.Name).ToList();
        Assert.Equal(2, methods.Count);
        var options = new GenerativeDemoOptions { Steps = 2, BatchSize = 4, EvalLimit = 8, SampleCount = 8, Methods = methods, LearningRateScale = 2 };
        var rows = GenerativeDemoRunner.Run(Decoder, data, Path.Combine(_temp, "out"), options, TextWriter.Null);

        Assert.Equal(methods, rows.Select(r => r.Method));
        var test = GenerationExample.ReadJsonLines(Path.Combine(data, "test.jsonl"));
        foreach (var row in rows)
        {
            Assert.Equal(8, row.Evaluation.Count);
            Assert.Equal(test.Select(e => (e.Prompt, e.Completion.Trim())), row.Evaluation.Samples.Select(s => (s.Prompt, s.Reference)));
            var samples = row.Evaluation.Samples;
            Assert.Equal(samples.Count(s => s.Generated == s.Reference) / 8.0, row.WordAccuracy, 12);
            Assert.InRange(row.WordAccuracy, 0, 1);
            var references = samples.Select(s => s.Reference.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
            var errors = samples.Select((s, i) => Levenshtein(references[i], s.Generated.Split(' ', StringSplitOptions.RemoveEmptyEntries))).Sum();
            Assert.Equal(errors / (double)references.Sum(r => r.Length), row.PhonemeErrorRate, 12);
            Assert.True(row.PhonemeErrorRate >= 0);

            Assert.Equal(2, row.Losses.Count);
            Assert.All(row.Losses, l => Assert.True(double.IsFinite(l) && l > 0, $"loss {l}"));
            Assert.NotEmpty(row.Ranks);
            Assert.All(row.Ranks.Values, r => Assert.True(r > 0));
            Assert.True(row.TrainableParams > 0);
            Assert.True(row.SecondsPerStep > 0);
            var method = Adapters.AdapterMethodRegistry.Find(row.Method)!;
            Assert.Equal(CausalLmSetup.LearningRate(method, null) * 2, row.LearningRate, 12);
            Assert.True(File.Exists(Path.Combine(_temp, "out", row.Method, "metrics.jsonl")));
        }

        var table = GenerativeDemoRunner.Table(rows).TrimEnd().Split('\n');
        Assert.Equal(2 + rows.Count, table.Length);
        Assert.StartsWith("| method | word accuracy | PER |", table[0], StringComparison.Ordinal);
        Assert.StartsWith($"| {methods[1]} |", table[3], StringComparison.Ordinal);
        Assert.Equal(rows.Count, GenerativeDemoRunner.ToJson(rows).Count);
    }

    [Fact]
    public void TheCliRunsOnlyTheG2pDemoWhenAskedAndWritesItsReportSection()
    {
        var data = TinyG2p();
        var methods = CausalLmSetup.TrainableMethods().Take(2).Select(m => m.Name).ToArray();
        var target = Path.Combine(_temp, "demo");
        var (code, output, error) = Cli.Peft(["demo", "--task", "g2p", "--decoder", Decoder, "--g2p-data", data, "--g2p-steps", "2", "--g2p-batch-size", "4", "--g2p-eval-limit", "8", "--output", target, "--methods", .. methods,
            "--base", Path.Combine(BundledDemoTests.Repository(), "models", "base"), "--data", Path.Combine(BundledDemoTests.Repository(), "data", "sotu-era")]);
        Assert.True(code == 0, output + error);
        Assert.Contains("| method | word accuracy | PER |", output);
        var report = File.ReadAllText(Path.Combine(target, "report.md"));
        Assert.Contains("## Generative: `g2p-tiny` on the decoder", report);
        Assert.DoesNotContain("macro-F1", report);
        foreach (var method in methods)
        {
            Assert.Contains($"| {method} |", report);
            Assert.Contains($"### {method}: samples", report);
        }

        Assert.Contains("| stormont -> | S T AO R M OW N T |", report);
        Cli.AssertPng(Path.Combine(target, "g2p-loss.png"));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(target, "g2p", "table.json")))!.AsArray();
        Assert.Equal(methods, json.Select(r => r!["method"]!.GetValue<string>()));
        Assert.All(json, r => Assert.InRange(r!["word_accuracy"]!.GetValue<double>(), 0, 1));

        (code, output, error) = Cli.Peft("demo", "--task", "speech", "--output", target);
        Assert.Equal(1, code);
        Assert.Contains("--task", error);
    }

    /// <summary>The first 32 training and 8 test records of the bundled g2p task.</summary>
    private string TinyG2p()
    {
        var source = Path.Combine(BundledDemoTests.Repository(), "data", "g2p");
        var target = Directory.CreateDirectory(Path.Combine(_temp, "g2p-tiny")).FullName;
        File.WriteAllLines(Path.Combine(target, "train.jsonl"), File.ReadLines(Path.Combine(source, "train.jsonl")).Take(32));
        File.WriteAllLines(Path.Combine(target, "test.jsonl"), File.ReadLines(Path.Combine(source, "test.jsonl")).Take(8));
        return target;
    }

    private static int Levenshtein(string[] a, string[] b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }
}
