using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Training;

namespace PeftSharp.Benchmarks;

/// <summary>One configuration's outcome on the quality benchmark.</summary>
/// <param name="Name">Configuration.</param>
/// <param name="Method">Method short name.</param>
/// <param name="Test">Test metrics of the best validation checkpoint, reloaded in its published form.</param>
/// <param name="AdapterParams">Trainable parameters inside the adapter paths while training.</param>
/// <param name="TotalRank">Sum of the published adapter's effective ranks.</param>
/// <param name="Seconds">Wall time of the run.</param>
public sealed record QualityRow(string Name, string Method, EvaluationResult Test, long AdapterParams, int TotalRank, double Seconds);

/// <summary>
/// Quality on a bundled task, every configuration with the same base, data, seed, step budget and
/// learning rate, and the claims computed from the rows (as records with their targets).
/// </summary>
public static class QualityBench
{
    private static readonly BenchmarkSettings Encoder = new(TargetModules.FromNames("query", "value"), ["classifier", "pooler"]);

    /// <summary>The configurations, the methods' <see cref="BenchmarkKind.Quality"/> variants in registry order: all of them, or the quick subset (one per method).</summary>
    public static List<(string Name, string Method, Func<int, AdapterConfig> Create)> Configurations(bool quick) =>
        [.. MethodStepBench.Variants(BenchmarkKind.Quality)
            .Where(v => !quick || v.Variant.Quick)
            .Select(v => (v.Variant.Name, v.Method.Name, (Func<int, AdapterConfig>)(steps => v.Variant.Create(Encoder with { TotalSteps = steps }))))];

    /// <summary>Trains every configuration (filtered by name prefixes in <paramref name="only"/>) and computes the claims.</summary>
    public static (List<QualityRow> Rows, List<BenchRecord> Records) Run(string root, int steps, bool quick, IReadOnlyCollection<string>? only, string output, TextWriter log, Func<string, IProgress<TrainingProgress>?>? progressFor = null)
    {
        var data = Path.Combine(root, "data", "sotu-era");
        var baseDir = Path.Combine(root, "models", "base");
        var options = new TrainerOptions { MaxSteps = steps, BatchSize = 16, LearningRate = 1e-3, MaxLength = 64, EvalEvery = quick ? steps : Math.Max(1, steps / 3), Seed = 0, LogEvery = 0 };
        log.WriteLine($"quality: sotu-era, {steps} steps, batch 16, lr 1e-3, max length 64, seed 0, validation every {options.EvalEvery} steps; test metric of the best validation checkpoint");
        var rows = new List<QualityRow>();
        foreach (var (name, method, create) in Configurations(quick).Where(c => only is null || only.Any(o => c.Name.StartsWith(o, StringComparison.Ordinal))))
        {
            var clock = Stopwatch.StartNew();
            var run = Train(baseDir, data, Path.Combine(output, Slug(name)), options, create, progressFor?.Invoke(name));
            rows.Add(new QualityRow(name, method, run.Test, run.AdapterParams, run.TotalRank, clock.Elapsed.TotalSeconds));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: test accuracy {run.Test.Accuracy:F4}, macro-F1 {run.Test.MacroF1:F4}, {run.AdapterParams:N0} adapter params, total rank {run.TotalRank}"));
        }

        var records = Claims(rows);
        foreach (var (method, variant) in MethodStepBench.Variants(BenchmarkKind.RankSchedule).Where(v => !quick && (only is null || only.Contains($"{v.Method.Name}-schedule"))))
        {
            records.Add(RankSchedule(variant, baseDir, data, Path.Combine(output, $"{method.Name}-schedule"), options, log));
        }

        if (!quick && rows.Any(r => r.Name == "dylora r_max=8") && (only is null || only.Contains("dylora-ranks")))
        {
            records.AddRange(DyLoraRanks(baseDir, data, Path.Combine(output, Slug("dylora r_max=8"), "best"), rows, log));
        }

        foreach (var record in records)
        {
            log.WriteLine(record);
        }

        return (rows, records);
    }

    /// <summary>The quality claims that the rows can answer (differences in accuracy points, parameter ratios).</summary>
    private static List<BenchRecord> Claims(List<QualityRow> rows)
    {
        var records = new List<BenchRecord>();
        QualityRow? Row(string name) => rows.FirstOrDefault(r => r.Name == name);
        void Difference(string claim, string a, string b, double? target)
        {
            if (Row(a) is { } x && Row(b) is { } y)
            {
                records.Add(new BenchRecord(claim, (x.Test.Accuracy - y.Test.Accuracy) * 100, "points", target, AtLeast: true, Detail: FormattableString.Invariant($"{a} {x.Test.Accuracy:F4} vs {b} {y.Test.Accuracy:F4}")));
            }
        }

        void Ratio(string claim, string a, string b, double target)
        {
            if (Row(a) is { } x && Row(b) is { } y)
            {
                records.Add(new BenchRecord(claim, x.AdapterParams / (double)y.AdapterParams, "ratio", target, Detail: FormattableString.Invariant($"{x.AdapterParams:N0} vs {y.AdapterParams:N0} adapter parameters")));
            }
        }

        Difference("AdaLoRA − LoRA at equal final budget 64 (accuracy)", "adalora 12→8 (budget 64)", "lora r=8", 0);
        Difference("AdaLoRA − LoRA at equal final budget 16 (accuracy)", "adalora 4→2 (budget 16)", "lora r=2", 0);
        Difference("AdaLoRA − LoRA at equal final budget 8 (accuracy)", "adalora 2→1 (budget 8)", "lora r=1", 0);
        Ratio("Tied-LoRA TL6 / LoRA r 8 adapter parameters", "tied_lora TL6 r=8", "lora r=8", 0.125);
        Difference("Tied-LoRA TL6 − LoRA r 8 (accuracy)", "tied_lora TL6 r=8", "lora r=8", -1);
        Ratio("Mo-SARA / LoRA r 8 adapter parameters", "mosara E=4 (m=0.1)", "lora r=8", 0.1);
        Difference("Mo-SARA − LoRA r 8 (accuracy)", "mosara E=4 (m=0.1)", "lora r=8", -1.5);
        Difference("SARA − LoRA at equal parameters (r 7 = 56 ranks)", "sara lora form (m=0.1)", "lora r=7", null);
        return records;
    }

    /// <summary>Trains one configuration and evaluates its published best adapter on the test split (and gives the total rank it started with).</summary>
    public static (EvaluationResult Test, long AdapterParams, int TotalRank, int InitialRank) Train(string baseDir, string data, string output, TrainerOptions options, Func<int, AdapterConfig> create, IProgress<TrainingProgress>? progress = null)
    {
        if (Directory.Exists(output))
        {
            Directory.Delete(output, recursive: true);
        }

        var train = ClassificationDataset.Load(Path.Combine(data, "train.jsonl"));
        var validation = ClassificationDataset.Load(Path.Combine(data, "validation.jsonl"), labels: train.Labels);
        var test = ClassificationDataset.Load(Path.Combine(data, "test.jsonl"), labels: train.Labels);
        var tokenizer = TextTokenizer.TryLoad(baseDir)!;
        TorchSharp.torch.manual_seed(options.Seed);
        var model = PretrainedModel.ForSequenceClassification(baseDir, train.Labels, out _);
        var runOptions = options with { OutputDirectory = output };
        var peft = PeftModel.Create(model, create(runOptions.TotalSteps(train.Examples.Count)));
        var adapterParams = peft.GetAdapterParameterCount();
        var initialRank = peft.GetEffectiveRanks().Values.Sum();
        new Trainer(model, peft, tokenizer, runOptions, null, progress).Train(train, validation);
        var best = Trainer.ForSavedAdapter(baseDir, Path.Combine(output, "best"), train.Labels, tokenizer, runOptions);
        var rank = best.Peft.GetEffectiveRanks().Values.Sum();
        return (best.Evaluate(test), adapterParams, rank, initialRank);
    }

    /// <summary>
    /// A <see cref="BenchmarkKind.RankSchedule"/> run (SoRA's linear ξ schedule) of 6 stages of 100 steps; the record is
    /// the largest fraction of ranks removed at ≤ 0.5 point validation accuracy from the first stage.
    /// </summary>
    private static BenchRecord RankSchedule(BenchmarkVariant variant, string baseDir, string data, string output, TrainerOptions options, TextWriter log)
    {
        const int stages = 6, stageSteps = 100;
        var config = variant.Create(Encoder with { TotalSteps = stages * stageSteps, Stages = stages });
        var run = options with { MaxSteps = stages * stageSteps, EvalEvery = stageSteps, Schedule = LearningRateSchedule.Constant };
        var (test, _, rank, total) = Train(baseDir, data, output, run, _ => config);
        var evals = File.ReadLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o.ContainsKey("accuracy")).ToList();
        var ranks = File.ReadLines(Path.Combine(output, "ranks.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        log.WriteLine($"  {variant.Name} rank schedule: stage, step, non-zero ranks, validation accuracy");
        var curve = new List<(double Removed, double Accuracy)>();
        foreach (var e in evals)
        {
            var step = e["step"]!.GetValue<int>();
            var live = ranks.Last(r => r["step"]!.GetValue<int>() <= step)["ranks"]!.AsObject().Sum(kv => kv.Value!.GetValue<int>());
            curve.Add((1 - live / (double)total, e["accuracy"]!.GetValue<double>()));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {curve.Count}, {step}, {live}, {curve[^1].Accuracy:F4}"));
        }

        var dense = curve[0].Accuracy;
        var removed = curve.Where(c => c.Accuracy >= dense - 0.005).Max(c => c.Removed);
        return new BenchRecord($"{variant.Name}: ranks removed within 0.5 point of its dense start", removed, "fraction", 0.30, AtLeast: true,
            Detail: string.Create(CultureInfo.InvariantCulture, $"dense start {dense:F4} (validation); best checkpoint pruned to {rank} ranks, test {test.Accuracy:F4}"));
    }

    /// <summary>The search-free claim: the one DyLoRA run evaluated at ranks 1, 2, 4, 8 against separate LoRA runs.</summary>
    private static IEnumerable<BenchRecord> DyLoraRanks(string baseDir, string data, string dyloraBest, List<QualityRow> rows, TextWriter log)
    {
        var train = ClassificationDataset.Load(Path.Combine(data, "train.jsonl"));
        var test = ClassificationDataset.Load(Path.Combine(data, "test.jsonl"), labels: train.Labels);
        var tokenizer = TextTokenizer.TryLoad(baseDir)!;
        var worst = double.PositiveInfinity;
        var details = new List<string>();
        var dylora = PeftModel.FromPretrained(PretrainedModel.ForSequenceClassification(baseDir, train.Labels, out _), dyloraBest);
        RankCuts.Score(dylora, 1, 8, (rank, cut) =>
        {
            if (rank is not (1 or 2 or 4 or 8) || rows.FirstOrDefault(r => r.Name == $"lora r={rank}") is not { } lora)
            {
                return 0;
            }

            var model = PretrainedModel.ForSequenceClassification(baseDir, train.Labels, out _);
            var peft = PeftModel.FromPretrained(model, cut);
            var accuracy = new Trainer(model, peft, tokenizer, new TrainerOptions()).Evaluate(test).Accuracy;
            worst = Math.Min(worst, (accuracy - lora.Test.Accuracy) * 100);
            details.Add(FormattableString.Invariant($"r{rank} {accuracy:F4} vs {lora.Test.Accuracy:F4}"));
            return 0;
        });

        if (details.Count == 0)
        {
            yield break;
        }

        var dyloraSeconds = rows.First(r => r.Name == "dylora r_max=8").Seconds;
        var loraSeconds = rows.Where(r => r.Name is "lora r=1" or "lora r=2" or "lora r=4" or "lora r=8").Sum(r => r.Seconds);
        yield return new BenchRecord("DyLoRA − LoRA at every rank ≤ r_max (worst, accuracy)", worst, "points", -1, AtLeast: true, Detail: string.Join("; ", details));
        yield return new BenchRecord("one DyLoRA run / LoRA runs at ranks 1, 2, 4, 8 (wall time)", dyloraSeconds / loraSeconds, "ratio", Detail: FormattableString.Invariant($"{dyloraSeconds:F0} s vs {loraSeconds:F0} s"));
    }

    private static string Slug(string name) => new(name.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
