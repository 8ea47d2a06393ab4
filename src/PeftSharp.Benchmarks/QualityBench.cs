using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara;
using PeftSharp.Methods.Sora;
using PeftSharp.Methods.TiedLora;
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
    private static readonly TargetModules QueryValue = TargetModules.FromNames("query", "value");

    private static T Q<T>(T config) where T : AdapterConfig
    {
        config.TargetModules = QueryValue;
        config.ModulesToSave = ["classifier", "pooler"];
        return config;
    }

    private static LoraConfig Lora(int r) => Q(new LoraConfig { R = r, LoraAlpha = 16, LoraDropout = 0.1 });

    /// <summary>The configurations: all of them, or the quick subset (one per method).</summary>
    public static List<(string Name, string Method, Func<int, AdapterConfig> Create)> Configurations(bool quick)
    {
        var all = new List<(string, string, Func<int, AdapterConfig>, bool Quick)>
        {
            ("lora r=8", "lora", _ => Lora(8), true),
            ("lora r=7", "lora", _ => Lora(7), false),
            ("lora r=4", "lora", _ => Lora(4), false),
            ("lora r=2", "lora", _ => Lora(2), false),
            ("lora r=1", "lora", _ => Lora(1), false),
            ("adalora 12→8 (budget 64)", "adalora", AdaLoraMethod.Instance.CreateTrainingConfig, true),
            ("adalora 4→2 (budget 16)", "adalora", t => { var c = AdaLoraMethod.Instance.CreateTrainingConfig(t); c.InitR = 4; c.TargetR = 2; return c; }, false),
            ("adalora 2→1 (budget 8)", "adalora", t => { var c = AdaLoraMethod.Instance.CreateTrainingConfig(t); c.InitR = 2; c.TargetR = 1; return c; }, false),
            ("dylora r_max=8", "dylora", t => DyLoraMethod.Instance.CreateTrainingConfig(t), true),
            ("sora r_max=8", "sora", t => SoraMethod.Instance.CreateTrainingConfig(t), true),
            ("sara lora form (m=0.1)", "sara", t => SaraMethod.Instance.CreateTrainingConfig(t), true),
            ("sara svd form (m=0.1)", "sara", t => { var c = SaraMethod.Instance.CreateTrainingConfig(t); c.Form = SaraForm.Svd; return c; }, false),
            ("mosara E=4 (m=0.1)", "mosara", t => MoSaraMethod.Instance.CreateTrainingConfig(t), true),
            ("mosara E=4 raw routing", "mosara", t => { var c = MoSaraMethod.Instance.CreateTrainingConfig(t); c.RouteRawInput = true; return c; }, false),
            ("mosara E=4 + output vector", "mosara", t => { var c = MoSaraMethod.Instance.CreateTrainingConfig(t); c.OutputVector = true; return c; }, false),
            ("mosara E=4 random bases", "mosara", t => { var c = MoSaraMethod.Instance.CreateTrainingConfig(t); c.Basis = MoSaraBasis.Random; return c; }, false),
            ("sara svd form + orthogonality 0.1", "sara", t => { var c = SaraMethod.Instance.CreateTrainingConfig(t); c.Form = SaraForm.Svd; c.OrthRegWeight = 0.1; return c; }, false),
        };
        foreach (var preset in new[] { "TL1", "TL2", "TL3", "TL4", "TL5", "TL6", "VeRA" })
        {
            all.Add(($"tied_lora {preset} r=8", "tied_lora", _ => Q(TiedLoraConfig.FromPreset(preset, 8)), preset == "TL6"));
        }

        return [.. all.Where(c => !quick || c.Quick).Select(c => (c.Item1, c.Item2, c.Item3))];
    }

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
        if (!quick && (only is null || only.Contains("sora-schedule")))
        {
            records.Add(SoraSchedule(baseDir, data, Path.Combine(output, "sora-schedule"), options, log));
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

    /// <summary>Trains one configuration and evaluates its published best adapter on the test split.</summary>
    public static (EvaluationResult Test, long AdapterParams, int TotalRank) Train(string baseDir, string data, string output, TrainerOptions options, Func<int, AdapterConfig> create, IProgress<TrainingProgress>? progress = null)
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
        new Trainer(model, peft, tokenizer, runOptions, null, progress).Train(train, validation);
        var best = Trainer.ForSavedAdapter(baseDir, Path.Combine(output, "best"), train.Labels, tokenizer, runOptions);
        var rank = best.Peft.GetEffectiveRanks().Values.Sum();
        return (best.Evaluate(test), adapterParams, rank);
    }

    /// <summary>SoRA r_max 8 with the linear ξ schedule; the record is the largest fraction of ranks removed at ≤ 0.5 point validation loss from the first stage.</summary>
    private static BenchRecord SoraSchedule(string baseDir, string data, string output, TrainerOptions options, TextWriter log)
    {
        const int stages = 6, stageSteps = 100;
        var config = SoraMethod.Instance.CreateTrainingConfig(0);
        config.LambdaSchedule = SoraLambdaSchedule.Linear;
        config.SparseLambda2 = 1e-4;
        config.MaxLambda = 2e-3;
        config.LambdaNum = stages;
        config.LambdaStageSteps = stageSteps;
        var run = options with { MaxSteps = stages * stageSteps, EvalEvery = stageSteps, Schedule = LearningRateSchedule.Constant };
        var (test, _, rank) = Train(baseDir, data, output, run, _ => config);
        var evals = File.ReadLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o.ContainsKey("accuracy")).ToList();
        var ranks = File.ReadLines(Path.Combine(output, "ranks.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var total = ranks[0]["ranks"]!.AsObject().Count * config.R;
        log.WriteLine("  SoRA ξ schedule: stage, step, non-zero gates, validation accuracy");
        var curve = new List<(double Removed, double Accuracy)>();
        foreach (var e in evals)
        {
            var step = e["step"]!.GetValue<int>();
            var gates = ranks.Last(r => r["step"]!.GetValue<int>() <= step)["ranks"]!.AsObject().Sum(kv => kv.Value!.GetValue<int>());
            curve.Add((1 - gates / (double)total, e["accuracy"]!.GetValue<double>()));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {curve.Count}, {step}, {gates}, {curve[^1].Accuracy:F4}"));
        }

        var dense = curve[0].Accuracy;
        var removed = curve.Where(c => c.Accuracy >= dense - 0.005).Max(c => c.Removed);
        return new BenchRecord("SoRA: ranks removed within 0.5 point of its dense start", removed, "fraction", 0.30, AtLeast: true,
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
        foreach (var rank in new[] { 1, 2, 4, 8 })
        {
            if (rows.FirstOrDefault(r => r.Name == $"lora r={rank}") is not { } lora)
            {
                continue;
            }

            var model = PretrainedModel.ForSequenceClassification(baseDir, train.Labels, out _);
            var peft = PeftModel.FromPretrained(model, dyloraBest);
            DyLora.SetRank(peft, rank);
            var accuracy = new Trainer(model, peft, tokenizer, new TrainerOptions()).Evaluate(test).Accuracy;
            worst = Math.Min(worst, (accuracy - lora.Test.Accuracy) * 100);
            details.Add(FormattableString.Invariant($"r{rank} {accuracy:F4} vs {lora.Test.Accuracy:F4}"));
        }

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
