using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PeftSharp.Adapters;
using Xunit;
using Xunit.Abstractions;

namespace PeftSharp.Tests;

/// <summary>
/// The ```csharp blocks of README.md, each compiled in memory as a console program (with the SDK's
/// implicit usings) against the loaded PeftSharp and TorchSharp assemblies, and run.
/// </summary>
public sealed partial class ReadmeExampleTests(ITestOutputHelper log)
{
    [GeneratedRegex(@"^```csharp\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"ranks (before|after): .*\(total (\d+)\)")]
    private static partial Regex RankLine();

    private static List<string> Blocks()
    {
        var text = File.ReadAllText(FindReadme()).ReplaceLineEndings("\n");
        return CSharpBlock().Matches(text).Select(m => m.Groups[1].Value).ToList();
    }

    private static string FindReadme()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "README.md");
            if (File.Exists(candidate) && File.Exists(Path.Combine(directory.FullName, "PeftSharp.slnx")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("README.md of the repository (next to PeftSharp.slnx) was not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Compiles <paramref name="source"/> as a console program, runs it and returns what it wrote.</summary>
    private static string CompileAndRun(string source)
    {
        const string implicitUsings = "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; global using System.Threading; global using System.Threading.Tasks;";
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var references = platform
            .Concat([typeof(PeftModel).Assembly.Location, typeof(TorchSharp.torch).Assembly.Location])
            .Distinct(StringComparer.Ordinal)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create(
            "ReadmeExample" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(implicitUsings, parse), CSharpSyntaxTree.ParseText(source, parse)],
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(result.Success, string.Join("\n", errors));
        var entry = Assembly.Load(image.ToArray()).EntryPoint!;
        var output = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            entry.Invoke(null, entry.GetParameters().Length == 0 ? [] : [Array.Empty<string>()]);
        }
        finally
        {
            Console.SetOut(output);
        }

        return captured.ToString();
    }

    [Fact]
    public void TheReadmeHasTheLibraryAndTheCustomLoopExamples()
    {
        var blocks = Blocks();
        Assert.Equal(2, blocks.Count);
        Assert.Contains("LoraConfig", blocks[0]);
        Assert.Contains("SoraConfig", blocks[1]);
        Assert.Contains("BeginTraining", blocks[1]);
    }

    [Fact]
    public void TheLibraryExampleCompilesAndRuns()
    {
        var output = CompileAndRun(Blocks()[0]);
        log.WriteLine(output);
        Assert.Contains("trainable params:", output);
        Assert.Contains("merged model has", output);
        var saved = Regex.Match(output, "saved to (.*);").Groups[1].Value;
        Assert.True(File.Exists(Path.Combine(saved, "adapter_model.safetensors")), output);
        Directory.Delete(saved, recursive: true);
    }

    [Fact]
    public void TheCustomLoopExampleCompilesRunsAndPrunesRanks()
    {
        var output = CompileAndRun(Blocks()[1]);
        log.WriteLine(output);
        var totals = RankLine().Matches(output).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(totals.ContainsKey("before") && totals.ContainsKey("after"), output);
        Assert.Equal(16, totals["before"]);
        Assert.True(totals["after"] < totals["before"], output);
        Assert.True(totals["after"] > 0, output);
    }
}
