using PeftSharp.Conformance;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class ConformanceTests
{
    private static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "Conformance");

    [Theory]
    [InlineData("lora-forward-01")]
    [InlineData("lora-forward-fifo-01")]
    [InlineData("adalora-forward-01")]
    [InlineData("adalora-orth-01")]
    [InlineData("adalora-allocator-01")]
    [InlineData("adalora-trajectory-01")]
    [InlineData("dylora-forward-01")]
    [InlineData("dylora-grad-frozen-01")]
    [InlineData("dylora-grad-free-01")]
    [InlineData("sara-rank-01")]
    [InlineData("sora-forward-01")]
    [InlineData("sora-gate-optimizer-01")]
    [InlineData("sora-gate-optimizer-schedule-01")]
    [InlineData("sora-trajectory-01")]
    [InlineData("tied-forward-grad-01")]
    public void ForwardCasesReproduceTheOfficialImplementations(string name)
    {
        var result = ConformanceRunner.Run(ConformanceCase.Load(Path.Combine(Directory, name + ".json")));
        Assert.True(result.Status == ConformanceStatus.Pass, result.ToString());
        Assert.True(result.Comparisons >= 1);
    }

    [Fact]
    public void TheWholeDirectoryHasNoFailures()
    {
        var results = ConformanceRunner.RunDirectory(Directory);
        Assert.Equal(15, results.Count);
        Assert.DoesNotContain(results, r => r.Status == ConformanceStatus.Fail);
        Assert.Equal(["adalora-allocator-01", "adalora-forward-01", "adalora-orth-01", "adalora-trajectory-01", "dylora-forward-01", "dylora-grad-free-01", "dylora-grad-frozen-01", "lora-forward-01", "lora-forward-fifo-01", "sara-rank-01", "sora-forward-01", "sora-gate-optimizer-01", "sora-gate-optimizer-schedule-01", "sora-trajectory-01", "tied-forward-grad-01"], results.Where(r => r.Status == ConformanceStatus.Pass).Select(r => r.CaseName));
        Assert.StartsWith("15 passed, 0 failed", ConformanceRunner.Summary(results));
    }

    [Fact]
    public void ACorruptedExpectationFailsAndSaysWhere()
    {
        var temp = System.IO.Directory.CreateTempSubdirectory("peftsharp-conformance-");
        try
        {
            File.Copy(Path.Combine(Directory, "lora-forward-01.json"), Path.Combine(temp.FullName, "lora-forward-01.json"));
            var tensors = SafetensorsFile.ReadAll(Path.Combine(Directory, "lora-forward-01.safetensors"));
            using (no_grad())
            {
                tensors["expect/y"][2, 5] += 1e-3f;
            }

            SafetensorsWriter.Save(Path.Combine(temp.FullName, "lora-forward-01.safetensors"), tensors);
            var results = ConformanceRunner.RunDirectory(temp.FullName, "lora");
            var result = Assert.Single(results);
            Assert.Equal(ConformanceStatus.Fail, result.Status);
            Assert.Equal("expect/y[2,5]", result.Where);
            Assert.InRange(result.MaxError, 9e-4, 1.1e-3);
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    [Fact]
    public void MethodFilterSelectsOnlyThatMethod()
    {
        var results = ConformanceRunner.RunDirectory(Directory, "sora");
        Assert.Equal(4, results.Count);
        Assert.All(results, r => Assert.Equal("sora", r.Method));
    }
}
