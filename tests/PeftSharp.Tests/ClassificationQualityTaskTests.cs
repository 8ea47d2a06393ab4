using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The quality protocol's classification task on the imported MiniLM, on a few sotu-era passages.</summary>
public sealed class ClassificationQualityTaskTests : IClassFixture<MiniLMFixture>, IDisposable
{
    private readonly MiniLMFixture _minilm;
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-quality-task-");

    public ClassificationQualityTaskTests(MiniLMFixture minilm) => _minilm = minilm;

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public void ARunScoresThePublishedAdapterAndItsCutsAtRanksAndBudgets()
    {
        var data = Path.Combine(_temp.FullName, "data");
        Directory.CreateDirectory(data);
        foreach (var split in new[] { "train", "validation", "test" })
        {
            File.WriteAllLines(Path.Combine(data, $"{split}.jsonl"), File.ReadLines(Path.Combine(SideBySide.FindRepository(), "data", "sotu-era", $"{split}.jsonl")).Take(split == "train" ? int.MaxValue : 24));
        }

        var task = new ClassificationQualityTask(_minilm.Model, data, new ClassificationBudget(Steps: 2, BatchSize: 4, MaxLength: 16, TestLimit: 8));
        Assert.Equal("model/data", task.Name);
        var variant = MethodStepBench.Variants(BenchmarkKind.Quality).Single(v => v.Method.Name == "dylora" && v.Variant.Quick).Variant;
        var run = task.Run("dylora r_max=8", "dylora", variant.Create(task.Settings(8)), seed: 3, Path.Combine(_temp.FullName, "run"), new QualityExtras([0.5], [8]));

        // 6 layers × query and value, rank 8, 384 → 384: 12 · 8 · 768 parameters, trained and published alike.
        Assert.Equal((73_728L, 73_728L, 73_728L, 96), (run.AdapterParameters, run.PublishedParameters, run.ExportParameters, run.TotalRank));
        Assert.Equal(("model/data", 3), (run.Task, run.Seed));
        Assert.InRange(run.Score, 0, 100);
        Assert.Equal(run.Score, run.Metrics["accuracy"]);

        // The rank-8 cut of an r_max-8 DyLoRA is the adapter itself: the same predictions, the same score.
        Assert.Equal(new[] { 8 }, run.ScoresAtRank.Keys);
        Assert.Equal(run.Score, run.ScoresAtRank[8], 9);
        Assert.Equal(new[] { 0.5 }, run.ScoresAtBudget.Keys);
        Assert.InRange(run.ScoresAtBudget[0.5], 0, 100);
        Assert.True(File.Exists(Path.Combine(_temp.FullName, "run", "adapter", "adapter_config.json")));
        Assert.False(Directory.Exists(Path.Combine(_temp.FullName, "run", "cut")));
    }
}
