using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Training.Baseline;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class BenchTests
{
    [Fact]
    public void RecordsSerialiseWithTheirTargetAndVerdict()
    {
        var upper = new BenchRecord("step ratio", 1.04, "ratio", 1.05);
        var lower = new BenchRecord("efficiency", 0.6, "ratio", 0.75, AtLeast: true);
        var free = new BenchRecord("svd time", 1.7, "s");
        Assert.Equal((true, false, (bool?)null), (upper.Met!.Value, lower.Met!.Value, free.Met));
        var json = upper.ToJson();
        Assert.Equal(["name", "value", "unit", "target", "met", "detail"], json.Select(p => p.Key));
        Assert.Equal(1.05, json["target"]!.GetValue<double>());
        Assert.True(json["met"]!.GetValue<bool>());
        Assert.Contains("NOT met", lower.ToString());
    }

    [Fact]
    public void BenchmarksTakeTheirConfigurationsFromTheMethodsUnderThePublishedNames()
    {
        // Every variant builds valid settings with the benchmark's targets; names are unique per benchmark.
        foreach (var kind in Enum.GetValues<BenchmarkKind>())
        {
            var variants = MethodStepBench.Variants(kind).ToList();
            Assert.Equal(variants.Count, variants.Select(v => v.Variant.Name).Distinct().Count());
            foreach (var (method, variant) in variants)
            {
                var config = variant.Create(new BenchmarkSettings(TargetModules.FromNames("query", "value"), ["classifier"], TotalSteps: 600, Rank: 4));
                Assert.Same(method, config.Method);
                Assert.Equal(["classifier"], config.ModulesToSave!);
                config.Validate();
            }
        }

        Assert.Single(MethodStepBench.Variants(BenchmarkKind.StepTime), v => v.Variant.Baseline);
        Assert.All(MethodStepBench.Variants(BenchmarkKind.StepTime).Where(v => !v.Variant.Baseline), v => Assert.NotNull(v.Variant.Tolerance));
        Assert.Equal(4, ((LowRankConfig)MethodStepBench.Baseline(4)).R);

        // The quality protocol runs one preset per method, in registry order, then LoRA at the other ranks the claims compare with.
        var configurations = QualityBench.Configurations(new QualityOptions());
        Assert.Equal(AdapterMethodRegistry.All.Select(m => m.Name), configurations.Where(c => c.Preset).Select(c => c.Method.Name));
        Assert.Equal(Enumerable.Range(1, 8).Select(QualityClaims.LoraAt), configurations.Where(c => c.Method.Name == "lora").Select(c => c.Name).Order());
        Assert.Equal(new[] { "lora r=4", "lora r=8" }, QualityBench.Configurations(new QualityOptions(Quick: true)).Where(c => c.Method.Name == "lora").Select(c => c.Name).Order());
        var three = configurations.Single(c => c.Name == "lora r=3");
        Assert.Equal(3, ((LowRankConfig)three.Variant.Create(MethodStepBench.Settings(rank: three.Rank))).R);
    }

    [Fact]
    public void TheTfIdfBaselineSeparatesASmallTaskAndTheBundledOnes()
    {
        var texts = new[] { "cheap pills buy now", "buy cheap pills today", "meeting notes for today", "notes from the meeting", "buy pills now cheap", "the meeting is today" };
        var labels = new[] { 0, 0, 1, 1, 0, 1 };
        var vectorizer = TfIdfVectorizer.Fit(texts, minDocumentFrequency: 1);
        var inputs = texts.Select(vectorizer.Transform).ToList();
        Assert.All(inputs, x => Assert.Equal(1.0, Math.Sqrt(x.Values.Sum(v => (double)v * v)), 5));
        var model = LogisticRegression.Train(inputs, labels, classes: 2, vectorizer.Features, l2: 1e-4, epochs: 20);
        Assert.Equal(labels, inputs.Select(model.Predict));
        Assert.Equal(0, model.Predict(vectorizer.Transform("cheap pills")));

        var root = SideBySide.FindRepository();
        var records = BaselineBench.Run(root, TextWriter.Null);
        Assert.Equal(4, records.Count);
        Assert.InRange(records.Single(r => r.Name == "baseline sotu-era test accuracy").Value, 0.6, 0.75);
        Assert.InRange(records.Single(r => r.Name == "baseline spam test accuracy").Value, 0.93, 1.0);
    }

    [Fact]
    public void SideBySideComparisonMeasuresTheSlowerVariantAsSlower()
    {
        var (ratio, slow, fast) = SideBySide.Compare(5, 2, () => Thread.Sleep(6), () => Thread.Sleep(2));
        Assert.True(ratio > 1.5, $"ratio {ratio} ({slow} ms vs {fast} ms)");
    }

    [Fact]
    public void TheHandWrittenReferenceStepTrainsItsAdapters()
    {
        manual_seed(1);
        using var reference = new ReferenceEncoder(layers: 1, hidden: 32, heads: 2, ffn: 64, vocab: 50, positions: 16, labels: 3, rank: 2, scaling: 2.0);
        var ids = randint(0, 50, [4, 8]);
        var labels = randint(0, 3, [4]);
        var step = reference.Step(ids, labels);
        for (var i = 0; i < 3; i++)
        {
            step();
        }

        Assert.InRange(EngineBench.LargeGemmFlops(64, 3), 1e6, 1e15);
    }

    [Fact]
    public void SpearmanHandlesTiesAndMatchesHandComputedValues()
    {
        Assert.Equal(1.0, RankRecoveryBench.Spearman([0, 1, 4, 2, 8], [1, 2, 5, 3, 9]), 12);
        Assert.Equal(-1.0, RankRecoveryBench.Spearman([1, 2, 3], [3, 2, 1]), 12);
        // x ranks 1, 2.5, 2.5, 4; y ranks 1, 2, 3, 4: ρ = Σ(dx·dy)/√(Σdx²·Σdy²) = 4.5/√(4.5·5)
        Assert.Equal(4.5 / Math.Sqrt(4.5 * 5), RankRecoveryBench.Spearman([0, 2, 2, 8], [1, 2, 3, 4]), 12);
        Assert.True(double.IsNaN(RankRecoveryBench.Spearman([1, 1, 1], [1, 2, 3])));
    }

    [Fact]
    public void AnUnknownSuiteIsRefusedByName()
    {
        var error = Assert.Throws<PeftConfigurationException>(() => BenchSuite.Run(new BenchOptions(true, ".", Path.GetTempPath(), ["speed"]), TextWriter.Null));
        Assert.Contains("unknown benchmark suite 'speed'", error.Message);
    }
}
