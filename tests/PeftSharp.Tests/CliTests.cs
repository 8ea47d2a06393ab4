using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Training;
using SkiaSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>One tiny task and one trained adapter shared by the CLI tests (each CLI call is a child process).</summary>
public sealed class CliFixture : IDisposable
{
    public CliFixture()
    {
        Temp = Directory.CreateTempSubdirectory("peftsharp-cli-").FullName;
        Root = BundledDemoTests.Repository();
        Base = Path.Combine(Root, "models", "base");
        Task = Cli.WriteTask(Path.Combine(Temp, "task"), ("train", 48), ("validation", 16), ("test", 16));

        Run = Path.Combine(Temp, "run");
        var (code, output, error) = Cli.Peft("train", "--base", Base, "--data", Task, "--method", "adalora", "--steps", "6", "--eval-every", "3", "--batch-size", "8", "--output", Run);
        Assert.True(code == 0, output + error);
    }

    public string Temp { get; }

    public string Root { get; }

    public string Base { get; }

    public string Task { get; }

    public string Run { get; }

    public string Best => Path.Combine(Run, "best");

    public void Dispose() => Directory.Delete(Temp, recursive: true);
}

internal static class Cli
{
    /// <summary>Runs <c>peft</c> with <paramref name="args"/>; returns the exit code, stdout and stderr.</summary>
    public static (int Code, string Output, string Error) Peft(params string[] args) => PeftWith(null, args);

    /// <summary>Runs <c>peft</c> with <paramref name="args"/> and extra <paramref name="environment"/> variables.</summary>
    public static (int Code, string Output, string Error) PeftWith(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Process.Start(StartInfo(environment, args))!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }

    /// <summary>How to start <c>peft</c> with <paramref name="args"/> and extra <paramref name="environment"/> variables, output redirected.</summary>
    public static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string>? environment, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "peft.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>Writes a task directory of the first lines of the bundled sotu-era splits (<paramref name="splits"/>: split name and line count); returns it.</summary>
    public static string WriteTask(string directory, params (string Split, int Count)[] splits)
    {
        Directory.CreateDirectory(directory);
        foreach (var (split, count) in splits)
        {
            File.WriteAllLines(Path.Combine(directory, $"{split}.jsonl"), File.ReadLines(Path.Combine(BundledDemoTests.Repository(), "data", "sotu-era", $"{split}.jsonl")).Take(count));
        }

        return directory;
    }

    /// <summary>Asserts <paramref name="path"/> is a PNG of a sensible size whose pixels are not all the same.</summary>
    public static void AssertPng(string path, int minWidth = 400, int minHeight = 300)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.True(bitmap.Width >= minWidth && bitmap.Height >= minHeight, $"{path}: {bitmap.Width}×{bitmap.Height}");
        var colours = new HashSet<SKColor>();
        for (var y = 0; y < bitmap.Height; y += 7)
        {
            for (var x = 0; x < bitmap.Width; x += 7)
            {
                colours.Add(bitmap.GetPixel(x, y));
            }
        }

        Assert.True(colours.Count >= 5, $"{path} has only {colours.Count} colours: no content");
    }
}

public sealed class CliTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private string Out(string name) => Path.Combine(fixture.Temp, name);

    [Fact]
    public void TrainWritesAReportWithPlots()
    {
        var report = File.ReadAllText(Path.Combine(fixture.Run, "report.md"));
        Assert.Contains("![loss](loss.png)", report);
        Assert.Contains("\"peft_type\": \"ADALORA\"", report);
        Cli.AssertPng(Path.Combine(fixture.Run, "loss.png"));
        Cli.AssertPng(Path.Combine(fixture.Run, "metrics.png"));
    }

    [Fact]
    public void InspectListsModulesAndPlotsTheRanks()
    {
        var (code, output, error) = Cli.Peft("inspect", fixture.Best, "--base", fixture.Base, "--plot");
        Assert.True(code == 0, output + error);
        Assert.Contains("method: adalora (peft_type ADALORA)", output);
        Assert.Contains("| bert.encoder.layer.0.attention.self.query | 256 | 256 |", output);
        Assert.Contains("total: 8 modules", output);
        Cli.AssertPng(Path.Combine(fixture.Best, "ranks.png"));
    }

    [Fact]
    public void ExportToABudgetStaysWithinItAndReportsTheMetricBeforeAndAfter()
    {
        var target = Out("export-budget");
        var (code, output, error) = Cli.Peft("export", fixture.Best, "--base", fixture.Base, "--output", target, "--budget", "5000", "--eval", Path.Combine(fixture.Task, "test.jsonl"), "--labels-from", Path.Combine(fixture.Task, "train.jsonl"));
        Assert.True(code == 0, output + error);
        Assert.Matches(@"ADALORA → LORA: [\d,]+ → [\d,]+ adapter parameters", output);
        Assert.Matches(@"accuracy \d\.\d{4} → \d\.\d{4}", output);
        var config = (PeftSharp.Methods.Lora.LoraConfig)PeftSharp.Adapters.AdapterConfigFile.Read(Path.Combine(target, "adapter_config.json"));
        var kept = config.TargetModules!.Names!.Sum(m => (long)config.RankFor(m) * 512);
        Assert.InRange(kept, 1, 5000);
    }

    [Fact]
    public void ABudgetBelowTheMinimumIsAOneLineUserError()
    {
        var (code, output, error) = Cli.Peft("export", fixture.Best, "--base", fixture.Base, "--output", Out("too-small"), "--budget", "100");
        Assert.Equal(1, code);
        Assert.Equal("error: a budget of 100 parameters is below the minimum of 512 (one rank-1 component of the smallest module)", error.Trim());
        Assert.DoesNotContain("   at ", output + error);
    }

    [Fact]
    public void MergeWritesACheckpointThatLoadsWithoutAdapterCode()
    {
        var target = Out("merged");
        var (code, output, error) = Cli.Peft("merge", fixture.Best, "--base", fixture.Base, "--output", target, "--labels-from", Path.Combine(fixture.Task, "train.jsonl"));
        Assert.True(code == 0, output + error);
        var labels = ClassificationDataset.Load(Path.Combine(fixture.Task, "train.jsonl")).Labels;
        var adapted = PretrainedModel.ForSequenceClassification(fixture.Base, labels, out _);
        PeftSharp.Adapters.PeftModel.FromPretrained(adapted, fixture.Best);
        var merged = PretrainedModel.FromPretrained(target);
        Assert.True(File.Exists(Path.Combine(target, "vocab.txt")));
        var ids = randint(5, 500, [2, 12]);
        TestUtil.AssertClose(merged.Forward(ids).detach(), adapted.Forward(ids).detach(), 1e-4, 1e-4);
    }

    [Fact]
    public void EvalAtEveryRankPlotsTheCurve()
    {
        var (code, output, error) = Cli.Peft("eval", "--base", fixture.Base, "--adapter", fixture.Best, "--data", Path.Combine(fixture.Task, "test.jsonl"), "--labels-from", Path.Combine(fixture.Task, "train.jsonl"), "--ranks", "1..2");
        Assert.True(code == 0, output + error);
        Assert.Contains("| 2 |", output);
        Cli.AssertPng(Path.Combine(fixture.Best, "metric-by-rank.png"));

        (code, output, error) = Cli.Peft("eval", "--base", fixture.Base, "--adapter", fixture.Best, "--data", Path.Combine(fixture.Task, "test.jsonl"), "--labels-from", Path.Combine(fixture.Task, "train.jsonl"), "--ranks", "1..99");
        Assert.Equal(1, code);
        Assert.Contains("--ranks 1..99 goes beyond the adapter's largest rank (12)", error);
    }

    [Fact]
    public void ARunConfigIsReadAndCommandLineFlagsOverrideIt()
    {
        var config = Out("run.json");
        File.WriteAllText(config, $$"""{"base": "{{fixture.Base}}", "data": "{{fixture.Task}}", "method": "nonexistent", "steps": 2, "batch-size": 8, "output": "{{Out("from-config")}}"}""");
        var (code, _, error) = Cli.Peft("train", "--config", config);
        Assert.Equal(1, code);
        Assert.Contains($"{config}: field 'method': 'nonexistent' is not a method", error);
        (code, var output, error) = Cli.Peft("train", "--config", config, "--method", "lora", "--eval-every", "2");
        Assert.True(code == 0, output + error);
        Assert.True(File.Exists(Path.Combine(Out("from-config"), "report.md")));

        File.WriteAllText(config, """{"stepz": 2}""");
        (code, _, error) = Cli.Peft("train", "--config", config);
        Assert.Equal(1, code);
        Assert.Contains("field 'stepz': is not an option of 'peft train'", error);
        File.WriteAllText(config, "{not json");
        (code, _, error) = Cli.Peft("train", "--config", config);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {config}", error.Trim());
    }

    [Theory]
    [InlineData("inspect", "/nonexistent/adapter")]
    [InlineData("export", "/nonexistent/adapter", "--output", "/tmp/x")]
    [InlineData("merge", "/nonexistent/adapter", "--output", "/tmp/x")]
    public void AMissingAdapterDirectoryIsAOneLineError(params string[] args)
    {
        var (code, _, error) = Cli.Peft([.. args, "--base", fixture.Base]);
        Assert.Equal(1, code);
        Assert.Equal("error: adapter directory '/nonexistent/adapter' does not exist", error.Trim());
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("export")]
    [InlineData("merge")]
    [InlineData("inspect")]
    [InlineData("demo")]
    [InlineData("pretrain")]
    [InlineData("sft-preview")]
    public void EveryCommandsHelpHasAnExample(string command)
    {
        var (code, output, _) = Cli.Peft(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Example", output);
    }

    [Fact]
    public void PretrainAndVersionRunOnTinyInputs()
    {
        var (code, output, error) = Cli.Peft("version");
        Assert.True(code == 0, error);
        Assert.Contains("PeftSharp", output);
        var corpus = Out("corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(Path.Combine(fixture.Task, "train.jsonl")).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!["text"]!.GetValue<string>()));
        var model = Out("pretrained");
        (code, output, error) = Cli.Peft("pretrain", "--corpus", corpus, "--output", model, "--steps", "3", "--batch-size", "4", "--vocab-size", "300", "--layers", "1", "--hidden", "64");
        Assert.True(code == 0, output + error);
        Assert.True(File.Exists(Path.Combine(model, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(model, "vocab.txt")));
    }

    [Fact]
    public void TheDemoWritesItsReportWithTheFrontierAndLossPlots()
    {
        var target = Out("demo");
        var (code, output, error) = Cli.Peft("demo", "--base", fixture.Base, "--data", fixture.Task, "--output", target, "--steps", "3", "--eval-every", "3", "--methods", "lora", "sora", "--task", "classification");
        Assert.True(code == 0, output + error);
        var report = File.ReadAllText(Path.Combine(target, "report.md"));
        Assert.Contains("| sora |", report);
        Assert.Contains("| tf-idf + logistic regression | accuracy ", report);
        Assert.True(report.IndexOf("| tf-idf + logistic regression |", StringComparison.Ordinal) < report.IndexOf("| lora |", StringComparison.Ordinal), report);
        Cli.AssertPng(Path.Combine(target, "frontier.png"));
        Cli.AssertPng(Path.Combine(target, "loss.png"));
    }
}
