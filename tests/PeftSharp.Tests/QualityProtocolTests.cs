using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Cli.Reports;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The quality protocol of issue 24: Student-t intervals, the claims' verdicts, and the protocol end to end on a fake task.</summary>
public sealed class QualityProtocolTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-quality-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Theory]
    [InlineData(1, 0.95, 12.706)]
    [InlineData(2, 0.95, 4.303)]
    [InlineData(4, 0.95, 2.776)]
    [InlineData(9, 0.95, 2.262)]
    [InlineData(30, 0.95, 2.042)]
    [InlineData(4, 0.90, 2.132)]
    [InlineData(5, 0.99, 4.032)]
    public void TQuantilesMatchTheTables(int degreesOfFreedom, double confidence, double table)
    {
        Assert.Equal(table, StudentT.TwoSidedQuantile(confidence, degreesOfFreedom), 3);
        Assert.Equal(confidence, StudentT.CentralProbability(StudentT.TwoSidedQuantile(confidence, degreesOfFreedom), degreesOfFreedom), 10);
    }

    [Fact]
    public void TheTDistributionTendsToTheNormalAndRefusesBadArguments()
    {
        Assert.Equal(1.95996, StudentT.TwoSidedQuantile(0.95, 100_000), 3);
        Assert.Equal(0, StudentT.CentralProbability(0, 3));
        Assert.Equal(0.5, StudentT.CentralProbability(1, 1), 12); // Cauchy: P(|T| ≤ 1) = 1/2
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.TwoSidedQuantile(0.95, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.TwoSidedQuantile(1, 4));
    }

    [Fact]
    public void IntervalsAreTheMeanPlusMinusTTimesTheStandardError()
    {
        // 1..5: mean 3, s = √2.5, s/√5 = √0.5; t(0.975, 4) = 2.7764451.
        var interval = ConfidenceInterval.Of([1, 2, 3, 4, 5]);
        Assert.Equal(3, interval.Mean, 12);
        Assert.Equal(2.7764451 * Math.Sqrt(0.5), interval.HalfWidth, 5);
        Assert.Equal(5, interval.Count);

        // Paired: differences 1 2 0 2 2 → mean 1.4, s² = 3.2 / 4 = 0.8, s/√5 = 0.4.
        var paired = ConfidenceInterval.Paired([10, 12, 11, 13, 14], [9, 10, 11, 11, 12]);
        Assert.Equal(1.4, paired.Mean, 12);
        Assert.Equal(2.7764451 * 0.4, paired.HalfWidth, 5);
        Assert.True(paired.Contains(0.4) && !paired.Contains(0.2));

        Assert.Throws<ArgumentException>(() => ConfidenceInterval.Of([1.0]));
        Assert.Throws<ArgumentException>(() => ConfidenceInterval.Of([1.0, double.NaN]));
        Assert.Throws<ArgumentException>(() => ConfidenceInterval.Paired([1.0, 2.0], [1.0, 2.0, 3.0]));
    }

    [Fact]
    public void ClaimsAreMetOnTheMeanAndSayWhetherTheIntervalIncludesTheBound()
    {
        // Seed noise shared by every configuration (−6 … +6 points) cancels in the paired differences.
        double[] noise = [-6, 0, 6];
        var runs = new List<QualityRun>();
        void Add(string configuration, string method, Func<int, double> score, long parameters, int totalRank, IReadOnlyDictionary<int, double>? atRank = null)
        {
            for (var seed = 0; seed < noise.Length; seed++)
            {
                var s = seed;
                runs.Add(new QualityRun("t", configuration, method, seed, 50 + noise[seed] + score(seed), new Dictionary<string, double>(), parameters, parameters, totalRank, method == "dylora" ? 10 : 4)
                {
                    ScoresAtRank = atRank?.ToDictionary(kv => kv.Key, kv => 50 + noise[s] + kv.Value) ?? new Dictionary<int, double>(),
                });
            }
        }

        for (var r = 1; r <= 8; r++)
        {
            Add(QualityClaims.LoraAt(r), "lora", _ => r, 768L * 12 * r, 12 * r);
        }

        // DyLoRA: exactly −1 below LoRA at ranks 1–7 (the edge: met), −1.2 at rank 8 (not met) in the second claim set below.
        Add("dylora r_max=8", "dylora", _ => 8, 768L * 96, 96, Enumerable.Range(1, 8).ToDictionary(r => r, r => r - 1.0));
        Add("adalora 12→8 (budget 64)", "adalora", _ => 8, 768L * 144, 96);                       // AdaLoRA = LoRA r 8: mean 0, met, CI [0, 0] includes the bound
        Add("sora r_max=8", "sora", seed => 8 - 0.4 + (seed - 1) * 0.3, 768L * 96, 64);            // pruned 1/3 (met), −0.4 (met)
        Add("mosara E=4 (m=0.1)", "mosara", seed => 8 - 1.6 + (seed - 1) * 0.01, 448, 148);         // −1.6: not met, CI excludes −1.5
        Add("tied_lora TL6 r=8", "tied_lora", seed => 8 + 2 + (seed - 1), 20_000, 96);               // +2 ± t·1/√3·…: met, CI excludes −1

        var (records, plots) = QualityClaims.Compute("t", "accuracy", runs);
        BenchRecord Find(string part) => Assert.Single(records, r => r.Name.Contains(part, StringComparison.Ordinal));

        var dylora = Find("DyLoRA (one run)");
        Assert.Equal(-1, dylora.Value, 9);
        Assert.True(dylora.Met);
        Assert.Contains("includes the bound", dylora.Detail, StringComparison.Ordinal);
        Assert.Equal(10 / 32.0, Find("one DyLoRA run").Value, 9); // 10 s against eight LoRA runs of 4 s
        var adalora = Find("AdaLoRA − LoRA");
        Assert.Equal((0.0, true), (adalora.Value, adalora.Met!.Value));
        var pruned = Find("SoRA ranks pruned");
        Assert.Equal((Math.Round(1 / 3.0, 9), true), (Math.Round(pruned.Value, 9), pruned.Met!.Value));
        Assert.Equal((-0.4, true), (Math.Round(Find("SoRA − LoRA").Value, 9), Find("SoRA − LoRA").Met!.Value));
        var mosara = Find("Mo-SARA − LoRA");
        Assert.Equal((-1.6, false), (Math.Round(mosara.Value, 9), mosara.Met!.Value));
        Assert.Contains("CI lies outside the target", mosara.Detail, StringComparison.Ordinal);
        Assert.True(Find("Mo-SARA / LoRA").Met);

        // Paired: the tied differences are 1 2 3 (mean 2, s 1): the interval is 2 ± t(0.975, 2)/√3, far narrower than the scores' own spread.
        var tied = Find("Tied-LoRA TL6 − LoRA");
        Assert.Equal(2, tied.Value, 9);
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"2 ± {4.302653 / Math.Sqrt(3):0.##}"), tied.Detail, StringComparison.Ordinal);
        Assert.Contains("CI lies inside the target", tied.Detail, StringComparison.Ordinal);
        Assert.Contains(plots, p => p.FileName == "claim-dylora-t.png" && p.Series.Count == 2 && p.Series[0].Points.Count == 8);

        // One rank 0.2 further below: the worst rank decides, and the claim is not met.
        runs = [.. runs.Select(r => r.Method == "dylora" ? r with { ScoresAtRank = r.ScoresAtRank.ToDictionary(kv => kv.Key, kv => kv.Key == 5 ? kv.Value - 0.2 : kv.Value) } : r)];
        var worse = Assert.Single(QualityClaims.Compute("t", "accuracy", runs).Records, r => r.Name.Contains("DyLoRA (one run)", StringComparison.Ordinal));
        Assert.Equal((-1.2, false), (Math.Round(worse.Value, 9), worse.Met!.Value));
        Assert.Contains("worst at rank 5", worse.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TiedLoraParameterRatiosOnThePapersShapesAndTheBundledDecoder()
    {
        // The spec's check values (methods.md §7.3): LLaMA-2 7B and GPT-2B, fused QKV, r 8.
        var shapes = QualityClaims.TiedLoraPaperShapes();
        Assert.Equal((213_184L, 1_572_864L), (shapes[0].TiedParameters, shapes[0].LoraParameters));
        Assert.Equal((524_544L, 4_194_304L), (shapes[1].TiedParameters, shapes[1].LoraParameters));

        // The bundled decoder (4 layers, d 256, 2 KV heads of 64, FFN 688), every linear layer, counted on the built model:
        // TL6 per type (q 5,152, k 3,616, v 3,616, o 5,152, gate 10,336, up 10,336, down 8,608) vs LoRA 4 · 8 · 4,624.
        var decoder = Path.Combine(SideBySide.FindRepository(), "models", "decoder");
        var record = QualityBench.TiedLoraShapes(decoder)[0];
        Assert.Equal(46_816 / 147_968.0, record.Value, 9);
    }

    [Fact]
    public void TheProtocolRunsEveryConfigurationAtEverySeedAndWritesRecordsRunsAndPlots()
    {
        var task = new FakeTask();
        var report = QualityBench.Run([task], new QualityOptions(Seeds: 2), _temp.FullName, TextWriter.Null);

        // Presets of the seven methods, LoRA at ranks 1–7, and LoRA at SARA's parameters (12 ranks a module) once SARA has run.
        var configurations = report.Runs.Select(r => r.Configuration).Distinct().ToList();
        Assert.Equal(AdapterMethodRegistry.All.Count + 8, configurations.Count);
        Assert.Contains("lora r=12", configurations);
        Assert.All(configurations, c => Assert.Equal(new[] { 0, 1 }, report.Runs.Where(r => r.Configuration == c).Select(r => r.Seed)));
        Assert.Equal(Enumerable.Range(1, 8), report.Runs.Single(r => r.Method == "dylora" && r.Seed == 0).ScoresAtRank.Keys.Order());
        Assert.Empty(report.Runs.Single(r => r.Configuration == "lora r=2" && r.Seed == 0).ScoresAtBudget);
        Assert.Equal(new[] { 0.25, 0.5, 0.75 }, report.Runs.Single(r => r.Configuration == "lora r=8" && r.Seed == 0).ScoresAtBudget.Keys.Order());

        // The records serialise (no NaN), every claim has its verdict, and the fake's known differences come out.
        var json = JsonNode.Parse(new JsonArray([.. report.Records.Select(r => (JsonNode?)r.ToJson())]).ToJsonString())!.AsArray();
        Assert.Equal(report.Records.Count, json.Count);
        var adalora = Assert.Single(report.Records, r => r.Name.StartsWith("fake: AdaLoRA − LoRA r 8", StringComparison.Ordinal));
        Assert.Equal((FakeTask.AdaLoraGain, true), (Math.Round(adalora.Value, 9), adalora.Met!.Value));
        var dial = Assert.Single(report.Records, r => r.Name.StartsWith("fake: budget dial: lora", StringComparison.Ordinal));
        Assert.Equal(-FakeTask.DialLoss, dial.Value, 9);
        Assert.Contains(report.Records, r => r.Name == "fake: SARA − LoRA at equal parameters (LoRA r 12; accuracy, points)");
        Assert.Contains(report.Records, r => r.Name.StartsWith("fake: lora r=4 (accuracy", StringComparison.Ordinal) && Math.Abs(r.Value - FakeTask.Score("lora", 4, 0.5)) < 1e-9);

        var runs = JsonNode.Parse(File.ReadAllText(Path.Combine(_temp.FullName, "runs.json")))!.AsArray();
        Assert.Equal(report.Runs.Count, runs.Count);
        Assert.Equal(new[] { "0.25", "0.5", "0.75" }, runs.Select(r => r!["scores_at_budget"]!.AsObject()).First(o => o.Count > 0).Select(kv => kv.Key));

        var written = QualityPlots.Write(_temp.FullName, report);
        Assert.Equal(new[] { "claim-adalora-fake.png", "claim-budget-dial-fake.png", "claim-dylora-fake.png", "claim-mosara-fake.png", "claim-sara-fake.png", "claim-sora-fake.png", "claim-tied-lora-fake.png", "frontier.png" }, written.Order());
        Assert.All(written, file => Assert.Equal("PNG"u8.ToArray(), File.ReadAllBytes(Path.Combine(_temp.FullName, file)).Skip(1).Take(3)));
    }

    /// <summary>A task whose scores are a known function of method, rank and seed (no training).</summary>
    private sealed class FakeTask : IQualityTask
    {
        public const double AdaLoraGain = 0.75;
        public const double DialLoss = 0.5;

        public string Name => "fake";

        public string ScoreName => "accuracy";

        public static double Score(string method, int rank, double seed) => 40 + 2 * Math.Log2(rank) + 3 * seed + (method == "adalora" ? AdaLoraGain : 0);

        public BenchmarkSettings Settings(int rank) => new(TargetModules.FromNames("query", "value"), ["classifier"], TotalSteps: 10, Rank: rank);

        public QualityRun Run(string configuration, string method, AdapterConfig config, int seed, string output, QualityExtras extras)
        {
            // SARA picks 12 ranks per module here, Mo-SARA trains a few hundred parameters; the rest have rank 8 (LoRA its own).
            var rank = method switch { "lora" => ((LowRankConfig)config).R, "sara" => 12, _ => 8 };
            var parameters = method == "mosara" ? 448L : 2 * 768L * rank;
            var score = Score(method, rank, seed);
            return new QualityRun(Name, configuration, method, seed, score, new Dictionary<string, double> { ["accuracy"] = score }, parameters, parameters, 2 * rank, 1)
            {
                ScoresAtBudget = extras.BudgetFractions.ToDictionary(f => f, f => Score("lora", (int)Math.Round(f * rank), seed) - DialLoss),
                ScoresAtRank = extras.Ranks.ToDictionary(r => r, r => Score("lora", r, seed)),
                ExportParameters = 2 * 768L * rank,
            };
        }
    }
}
