using PeftSharp.Methods.TiedLora;

namespace PeftSharp.Benchmarks;

/// <summary>A point of a claim's plot: the mean score (or difference) at <paramref name="X"/> with its 95 % confidence interval.</summary>
/// <param name="X">Position on the x axis (rank, parameters, …).</param>
/// <param name="Value">The mean and interval over seeds.</param>
public sealed record ClaimPoint(double X, ConfidenceInterval Value);

/// <summary>One series of a claim's plot.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="Points">The points, in x order.</param>
public sealed record ClaimSeries(string Name, IReadOnlyList<ClaimPoint> Points);

/// <summary>The plot of one claim on one task: points with 95 % error bars, one series per configuration.</summary>
/// <param name="FileName">The PNG's file name (no folder).</param>
/// <param name="Title">Title.</param>
/// <param name="XLabel">x-axis label.</param>
/// <param name="YLabel">y-axis label.</param>
/// <param name="Series">The series.</param>
/// <param name="LogX">Whether x is drawn on a log₁₀ scale (parameter counts).</param>
public sealed record ClaimPlot(string FileName, string Title, string XLabel, string YLabel, IReadOnlyList<ClaimSeries> Series, bool LogX = false);

/// <summary>
/// The papers' claims (issue 24) computed from the runs of the quality protocol: each a
/// <see cref="BenchRecord"/> whose value is a mean over seeds (a paired difference where two
/// configurations share the seeds), met when the mean satisfies the target, with the 95 % interval
/// and whether it includes the bound in the detail; and one plot per claim.
/// </summary>
public static class QualityClaims
{
    /// <summary>The ranks the DyLoRA claim compares (one DyLoRA run against a LoRA run per rank).</summary>
    public const int MaxRank = 8;

    /// <summary>Tolerance (points) of the budget dial: an export at a fraction of its parameters against LoRA trained at that budget (the DyLoRA claim's tolerance; the issue names none).</summary>
    public const double DialTolerance = -1;

    /// <summary>The configuration name of LoRA's preset at <paramref name="rank"/>.</summary>
    public static string LoraAt(int rank) => string.Create(CultureInfo.InvariantCulture, $"lora r={rank}");

    /// <summary>The claims on one task's runs (records and plots); claims whose configurations are missing are left out.</summary>
    public static (List<BenchRecord> Records, List<ClaimPlot> Plots) Compute(string task, string scoreName, IReadOnlyList<QualityRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var claims = new TaskClaims(task, scoreName, [.. runs.Where(r => r.Task == task)]);
        claims.DyLora();
        claims.AdaLora();
        claims.Sora();
        claims.Sara();
        claims.MoSara();
        claims.TiedLora();
        claims.BudgetDial();
        return (claims.Records, claims.Plots);
    }

    /// <summary>
    /// Tied-LoRA TL6 against LoRA at rank 8 on the paper's shapes (the reference adapts only the fused
    /// QKV projection, d → 3d, per layer), by arithmetic: (name, TL6 parameters, LoRA parameters).
    /// </summary>
    public static IReadOnlyList<(string Shape, long TiedParameters, long LoraParameters)> TiedLoraPaperShapes()
    {
        var tl6 = TiedLoraConfig.FromPreset("TL6", MaxRank);
        return
        [
            .. new[] { ("GPT-2B-like (24 layers, d 2048, fused QKV 2048→6144)", 24, 2048), ("LLaMA-2 7B (32 layers, d 4096, fused QKV 4096→12288)", 32, 4096) }
                .Select(s => (s.Item1, tl6.TrainableParameters(s.Item2, s.Item3, 3 * s.Item3), (long)s.Item2 * MaxRank * (s.Item3 + 3 * s.Item3))),
        ];
    }

    /// <summary>A record whose value is <paramref name="interval"/>'s mean, with the interval and its relation to the bound in the detail.</summary>
    public static BenchRecord Record(string name, ConfidenceInterval interval, string unit, double? target, bool atLeast, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(interval);
        var bound = target is { } t
            ? interval.Contains(t) ? "; the CI includes the bound" : (atLeast ? interval.Low > t : interval.High < t) ? "; the CI lies inside the target" : "; the CI lies outside the target"
            : string.Empty;
        return new BenchRecord(name, interval.Mean, unit, target, atLeast, $"{interval}{bound}{(detail is null ? string.Empty : "; " + detail)}");
    }

    private sealed class TaskClaims(string task, string scoreName, List<QualityRun> runs)
    {
        public List<BenchRecord> Records { get; } = [];

        public List<ClaimPlot> Plots { get; } = [];

        private string Slug { get; } = new(task.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

        private List<QualityRun> Config(string name) => [.. runs.Where(r => r.Configuration == name).OrderBy(r => r.Seed)];

        /// <summary>The runs of <paramref name="method"/>'s preset (LoRA's at rank 8).</summary>
        private List<QualityRun> Preset(string method) => method == "lora" ? Config(LoraAt(MaxRank)) : [.. runs.Where(r => r.Method == method).OrderBy(r => r.Seed)];

        /// <summary>LoRA's runs per rank (configurations "lora r=k").</summary>
        private List<(int Rank, List<QualityRun> Runs)> LoraRanks() =>
            [.. Enumerable.Range(1, 64).Select(k => (k, Config(LoraAt(k)))).Where(p => p.Item2.Count > 0)];

        /// <summary>The LoRA rank whose parameters are nearest to <paramref name="parameters"/>.</summary>
        private (int Rank, List<QualityRun> Runs)? LoraNearest(double parameters) =>
            LoraRanks() is { Count: > 0 } ranks ? ranks.MinBy(p => Math.Abs(Math.Log(p.Runs[0].PublishedParameters / parameters))) : null;

        /// <summary>The paired interval of <paramref name="a"/> − <paramref name="b"/> over their common seeds.</summary>
        private static ConfidenceInterval? Paired(IEnumerable<(int Seed, double Value)> a, IEnumerable<(int Seed, double Value)> b)
        {
            var pairs = a.Join(b, x => x.Seed, y => y.Seed, (x, y) => (x.Value, y.Value)).ToList();
            return pairs.Count >= 2 ? ConfidenceInterval.Paired([.. pairs.Select(p => p.Item1)], [.. pairs.Select(p => p.Item2)]) : null;
        }

        private static IEnumerable<(int Seed, double Value)> Scores(List<QualityRun> runs) => runs.Select(r => (r.Seed, r.Score));

        private string Name(string claim) => $"{task}: {claim}";

        private ClaimSeries LoraCurve() =>
            new("LoRA (a run per rank)", [.. LoraRanks().Where(p => p.Runs.Count >= 2).Select(p => new ClaimPoint(p.Runs[0].PublishedParameters, ConfidenceInterval.Of([.. p.Runs.Select(r => r.Score)])))]);

        private static ClaimSeries Point(string name, List<QualityRun> runs, Func<QualityRun, double> x) =>
            new(name, [new ClaimPoint(runs.Average(x), ConfidenceInterval.Of([.. runs.Select(r => r.Score)]))]);

        private void ParameterPlot(string claim, string title, string name, List<QualityRun> method) =>
            Plots.Add(new ClaimPlot($"claim-{claim}-{Slug}.png", $"{title} ({task})", "published adapter parameters (log scale)", $"test {scoreName} (points, 95 % CI over seeds)",
                [LoraCurve(), Point(name, method, r => r.PublishedParameters)], LogX: true));

        /// <summary>DyLoRA: one run scored at every rank against a LoRA run trained at that rank; and what the one run costs against them.</summary>
        public void DyLora()
        {
            var dylora = Preset("dylora").Where(r => r.ScoresAtRank.Count > 0).ToList();
            var compared = LoraRanks().Where(p => p.Rank <= MaxRank && dylora.Count > 0 && dylora[0].ScoresAtRank.ContainsKey(p.Rank))
                .Select(p => (p.Rank, p.Runs, Difference: Paired(dylora.Where(d => d.ScoresAtRank.ContainsKey(p.Rank)).Select(d => (d.Seed, d.ScoresAtRank[p.Rank])), Scores(p.Runs))))
                .Where(c => c.Difference is not null).ToList();
            if (compared.Count == 0)
            {
                return;
            }

            var worst = compared.MinBy(c => c.Difference!.Mean);
            var perRank = string.Join(", ", compared.Select(c => string.Create(CultureInfo.InvariantCulture, $"r{c.Rank} {c.Difference!.Mean:+0.##;−0.##;0} ± {c.Difference.HalfWidth:0.##}")));
            Records.Add(Record(Name($"DyLoRA (one run) − LoRA trained at that rank, worst of ranks {string.Join(" ", compared.Select(c => c.Rank))} ({scoreName}, points)"),
                worst.Difference!, "points", -1, atLeast: true, $"worst at rank {worst.Rank}; per rank (paired over seeds): {perRank}"));

            var loraSeconds = compared.Sum(c => c.Runs.Average(r => r.Seconds));
            var dyloraSeconds = dylora.Average(r => r.Seconds);
            Records.Add(new BenchRecord(Name($"one DyLoRA run / {compared.Count} LoRA runs at ranks {string.Join(" ", compared.Select(c => c.Rank))} (wall time)"), dyloraSeconds / loraSeconds, "ratio",
                Detail: string.Create(CultureInfo.InvariantCulture, $"{dyloraSeconds:F0} s vs {loraSeconds:F0} s (mean over seeds; training and the test score, not the per-rank scoring)")));
            Plots.Add(new ClaimPlot($"claim-dylora-{Slug}.png", $"DyLoRA: one run at every rank vs a LoRA run per rank ({task})", "rank", $"test {scoreName} (points, 95 % CI over seeds)",
            [
                new("DyLoRA (one run, scored at each rank)", [.. compared.Select(c => new ClaimPoint(c.Rank, ConfidenceInterval.Of([.. dylora.Where(d => d.ScoresAtRank.ContainsKey(c.Rank)).Select(d => d.ScoresAtRank[c.Rank])])))]),
                new("LoRA (a run per rank)", [.. compared.Select(c => new ClaimPoint(c.Rank, ConfidenceInterval.Of([.. c.Runs.Select(r => r.Score)])))]),
            ]));
        }

        /// <summary>AdaLoRA against LoRA at the same final budget (AdaLoRA's target rank = LoRA's rank 8).</summary>
        public void AdaLora()
        {
            var adalora = Preset("adalora");
            var lora = Config(LoraAt(MaxRank));
            if (Paired(Scores(adalora), Scores(lora)) is not { } difference)
            {
                return;
            }

            Records.Add(Record(Name($"AdaLoRA − LoRA r {MaxRank} at equal final budget ({scoreName}, points)"), difference, "points", 0, atLeast: true,
                string.Create(CultureInfo.InvariantCulture, $"final total rank {adalora.Average(r => r.TotalRank):0.#} vs {lora[0].TotalRank}; {adalora[0].Configuration}")));
            ParameterPlot("adalora", "AdaLoRA vs LoRA at equal final budget", $"AdaLoRA ({adalora[0].Configuration})", adalora);
        }

        /// <summary>SoRA: the share of LoRA r 8's ranks its gates prune, and its score against LoRA r 8.</summary>
        public void Sora()
        {
            var sora = Preset("sora");
            var lora = Config(LoraAt(MaxRank));
            if (Paired(Scores(sora), Scores(lora)) is not { } difference || lora[0].TotalRank == 0)
            {
                return;
            }

            var pruned = ConfidenceInterval.Of([.. sora.Select(r => 1 - r.TotalRank / (double)lora[0].TotalRank)]);
            Records.Add(Record(Name($"SoRA ranks pruned (share of r_max {MaxRank})"), pruned, "fraction", 0.30, atLeast: true,
                string.Create(CultureInfo.InvariantCulture, $"published total rank {sora.Average(r => r.TotalRank):0.#} of {lora[0].TotalRank}")));
            Records.Add(Record(Name($"SoRA − LoRA r {MaxRank} (loss at that pruning, {scoreName}, points)"), difference, "points", -0.5, atLeast: true));
            ParameterPlot("sora", "SoRA (pruned) vs LoRA", "SoRA (published, pruned)", sora);
        }

        /// <summary>SARA against LoRA at the nearest parameter count (no target: the difference with its interval).</summary>
        public void Sara()
        {
            var sara = Preset("sara");
            if (sara.Count == 0 || LoraNearest(sara.Average(r => r.AdapterParameters)) is not { } lora || Paired(Scores(sara), Scores(lora.Runs)) is not { } difference)
            {
                return;
            }

            Records.Add(Record(Name($"SARA − LoRA at equal parameters (LoRA r {lora.Rank}; {scoreName}, points)"), difference, "points", null, atLeast: true,
                string.Create(CultureInfo.InvariantCulture, $"{sara.Average(r => r.AdapterParameters):N0} vs {lora.Runs[0].AdapterParameters:N0} adapter parameters (SARA total rank {sara[0].TotalRank})")));
            ParameterPlot("sara", "SARA vs LoRA at equal parameters", "SARA (ranks from the spectrum)", sara);
        }

        /// <summary>Mo-SARA: at most a tenth of LoRA r 8's parameters, within 1.5 points.</summary>
        public void MoSara()
        {
            var mosara = Preset("mosara");
            var lora = Config(LoraAt(MaxRank));
            if (Paired(Scores(mosara), Scores(lora)) is not { } difference)
            {
                return;
            }

            var ratio = mosara[0].AdapterParameters / (double)lora[0].AdapterParameters;
            Records.Add(new BenchRecord(Name($"Mo-SARA / LoRA r {MaxRank} trainable adapter parameters"), ratio, "ratio", 0.1,
                Detail: string.Create(CultureInfo.InvariantCulture, $"{mosara[0].AdapterParameters:N0} vs {lora[0].AdapterParameters:N0} (the same at every seed)")));
            Records.Add(Record(Name($"Mo-SARA − LoRA r {MaxRank} ({scoreName}, points)"), difference, "points", -1.5, atLeast: true));
            ParameterPlot("mosara", "Mo-SARA vs LoRA", "Mo-SARA", mosara);
        }

        /// <summary>Tied-LoRA TL6 within a point of LoRA r 8, and its parameter ratio on this task's model.</summary>
        public void TiedLora()
        {
            var tied = Preset("tied_lora");
            var lora = Config(LoraAt(MaxRank));
            if (Paired(Scores(tied), Scores(lora)) is not { } difference)
            {
                return;
            }

            Records.Add(Record(Name($"Tied-LoRA TL6 − LoRA r {MaxRank} ({scoreName}, points)"), difference, "points", -1, atLeast: true));
            Records.Add(new BenchRecord(Name($"Tied-LoRA TL6 / LoRA r {MaxRank} trainable adapter parameters (this task's model)"), tied[0].AdapterParameters / (double)lora[0].AdapterParameters, "ratio",
                Detail: string.Create(CultureInfo.InvariantCulture, $"{tied[0].AdapterParameters:N0} vs {lora[0].AdapterParameters:N0}")));
            ParameterPlot("tied-lora", "Tied-LoRA TL6 vs LoRA", "Tied-LoRA TL6", tied);
        }

        /// <summary>The budget dial: each method's adapter exported at fractions of its parameters against LoRA trained at that budget.</summary>
        public void BudgetDial()
        {
            var lora = LoraRanks();
            var series = new List<ClaimSeries> { LoraCurve() };
            foreach (var method in runs.Where(r => r.ScoresAtBudget.Count > 0).Select(r => r.Method).Distinct(StringComparer.Ordinal).ToList())
            {
                var preset = Preset(method).Where(r => r.ScoresAtBudget.Count > 0).ToList();
                var perFraction = new List<(double Fraction, int Rank, ConfidenceInterval Difference, ClaimPoint Point)>();
                foreach (var fraction in preset[0].ScoresAtBudget.Keys.Order())
                {
                    var withFraction = preset.Where(r => r.ScoresAtBudget.ContainsKey(fraction)).ToList();
                    var budget = withFraction.Average(r => fraction * ExportParameters(r));
                    if (!double.IsFinite(budget) || LoraNearest(budget) is not { } nearest ||
                        Paired(withFraction.Select(r => (r.Seed, r.ScoresAtBudget[fraction])), Scores(nearest.Runs)) is not { } difference)
                    {
                        continue;
                    }

                    perFraction.Add((fraction, nearest.Rank, difference, new ClaimPoint(budget, ConfidenceInterval.Of([.. withFraction.Select(r => r.ScoresAtBudget[fraction])]))));
                }

                if (perFraction.Count == 0)
                {
                    continue;
                }

                var worst = perFraction.MinBy(p => p.Difference.Mean);
                Records.Add(Record(Name($"budget dial: {method} exported at {string.Join("/", perFraction.Select(p => (p.Fraction * 100).ToString("0", CultureInfo.InvariantCulture)))} % of its parameters − LoRA trained at that budget, worst ({scoreName}, points)"),
                    worst.Difference, "points", DialTolerance, atLeast: true,
                    string.Create(CultureInfo.InvariantCulture, $"worst at {worst.Fraction * 100:0} %; per fraction (paired over seeds, against LoRA at the nearest rank): {string.Join(", ", perFraction.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Fraction * 100:0} % vs r {p.Rank}: {p.Difference.Mean:+0.##;−0.##;0} ± {p.Difference.HalfWidth:0.##}")))}")));
                series.Add(new ClaimSeries($"{method} exported", [.. perFraction.Select(p => p.Point)]));
            }

            if (series.Count > 1)
            {
                Plots.Add(new ClaimPlot($"claim-budget-dial-{Slug}.png", $"Budget dial: exports at a fraction of their parameters vs LoRA trained at that budget ({task})", "parameters of the plain-LoRA export (log scale)",
                    $"test {scoreName} (points, 95 % CI over seeds)", series, LogX: true));
            }

            // The parameters of a run's full plain-LoRA export: recorded by the task, else its total rank at LoRA's cost per rank.
            double ExportParameters(QualityRun run) => run.ExportParameters > 0 ? run.ExportParameters
                : lora.Count > 0 ? run.TotalRank * (lora[0].Runs[0].PublishedParameters / (double)Math.Max(1, lora[0].Runs[0].TotalRank)) : double.NaN;
        }
    }
}
