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

namespace PeftSharp.Bench;

/// <summary>
/// Quality on a bundled task, every configuration with the same base, data, seed, step budget and
/// learning rate: test metric of the best-on-validation adapter (reloaded in its published form),
/// adapter parameters (trainable tensors inside the adapter paths; the classifier and pooler, trained
/// by all, are left out), and total final rank. SoRA also gets its sparsity/metric curve over a
/// ξ schedule.
/// </summary>
internal static class Quality
{
    private static readonly TargetModules QueryValue = TargetModules.FromNames("query", "value");

    public static void Run(string[] args)
    {
        var root = Option(args, "--root") ?? ".";
        var data = Path.Combine(root, "data", Option(args, "--task") ?? "sotu-era");
        var baseDir = Path.Combine(root, "models", "base");
        var steps = int.Parse(Option(args, "--steps") ?? "300", CultureInfo.InvariantCulture);
        var only = Option(args, "--only")?.Split(',');
        var output = Option(args, "--output") ?? "runs/quality";
        var options = new TrainerOptions { MaxSteps = steps, BatchSize = 16, LearningRate = 1e-3, MaxLength = 64, EvalEvery = steps / 3, Seed = 0, LogEvery = 0 };
        Console.WriteLine($"task {Path.GetFileName(data)}, {steps} steps, batch 16, lr 1e-3, max length 64, seed 0, validation every {steps / 3} steps; test metric of the best validation checkpoint");
        Console.WriteLine("| configuration | test accuracy | macro-F1 | adapter params | total rank | s/step |");
        Console.WriteLine("|---|---|---|---|---|---|");

        T Q<T>(T config) where T : AdapterConfig
        {
            config.TargetModules = QueryValue;
            config.ModulesToSave = ["classifier", "pooler"];
            return config;
        }

        var experiments = new List<(string Name, Func<int, AdapterConfig> Create)>
        {
            ("lora r=8", _ => Q(new LoraConfig { R = 8, LoraAlpha = 16, LoraDropout = 0.1 })),
            ("lora r=7", _ => Q(new LoraConfig { R = 7, LoraAlpha = 14, LoraDropout = 0.1 })),
            ("lora r=2", _ => Q(new LoraConfig { R = 2, LoraAlpha = 4, LoraDropout = 0.1 })),
            ("lora r=1", _ => Q(new LoraConfig { R = 1, LoraAlpha = 2, LoraDropout = 0.1 })),
            ("adalora 12→8 (budget 64)", AdaLoraConfig.ForEncoderClassification),
            ("adalora 4→2 (budget 16)", t => { var c = AdaLoraConfig.ForEncoderClassification(t); c.InitR = 4; c.TargetR = 2; return c; }),
            ("adalora 2→1 (budget 8)", t => { var c = AdaLoraConfig.ForEncoderClassification(t); c.InitR = 2; c.TargetR = 1; return c; }),
            ("dylora r_max=8", _ => DyLoraConfig.ForEncoderClassification()),
            ("sora r_max=8", _ => SoraConfig.ForEncoderClassification()),
            ("sara lora form (m=0.1)", _ => SaraConfig.ForEncoderClassification()),
            ("sara svd form (m=0.1)", _ => { var c = SaraConfig.ForEncoderClassification(); c.Form = SaraForm.Svd; return c; }),
            ("mosara E=4 (m=0.1)", _ => MoSaraConfig.ForEncoderClassification()),
            ("mosara E=4 raw routing", _ => { var c = MoSaraConfig.ForEncoderClassification(); c.RouteRawInput = true; return c; }),
            ("mosara E=4 + output vector", _ => { var c = MoSaraConfig.ForEncoderClassification(); c.OutputVector = true; return c; }),
        };
        foreach (var preset in new[] { "TL1", "TL2", "TL3", "TL4", "TL5", "TL6", "VeRA" })
        {
            experiments.Add(($"tied_lora {preset} r=8", _ => Q(TiedLoraConfig.FromPreset(preset, 8))));
        }

        experiments.Add(("tied_lora VeRA r=64", _ => Q(TiedLoraConfig.FromPreset("VeRA", 64))));
        foreach (var (name, create) in experiments.Where(e => only is null || only.Any(o => e.Name.StartsWith(o, StringComparison.Ordinal))))
        {
            var row = Train(baseDir, data, Path.Combine(output, Slug(name)), options, create);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {row.Test.Accuracy:F4} | {row.Test.MacroF1:F4} | {row.AdapterParams:N0} | {row.TotalRank} | {row.SecondsPerStep:F3} |"));
        }

        if (only is null || only.Contains("sora-schedule"))
        {
            SoraSchedule(baseDir, data, Path.Combine(output, "sora-schedule"), options);
        }
    }

    private static (EvaluationResult Test, long AdapterParams, int TotalRank, double SecondsPerStep) Train(string baseDir, string data, string output, TrainerOptions options, Func<int, AdapterConfig> create)
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
        var trainer = new Trainer(model, peft, tokenizer, runOptions);
        var result = trainer.Train(train, validation);
        var best = Trainer.ForSavedAdapter(baseDir, Path.Combine(output, "best"), train.Labels, tokenizer, runOptions);
        var rank = best.Peft.AdaptedModules.Sum(m => m.Layer.GetPath(best.Peft.ActiveAdapter).EffectiveRank);
        return (best.Evaluate(test), adapterParams, rank, result.SecondsPerStep);
    }

    /// <summary>SoRA r_max 8 with the linear ξ schedule: non-zero gates and validation accuracy at every stage boundary.</summary>
    private static void SoraSchedule(string baseDir, string data, string output, TrainerOptions options)
    {
        const int stages = 6, stageSteps = 100;
        var config = SoraConfig.ForEncoderClassification();
        config.LambdaSchedule = SoraLambdaSchedule.Linear;
        config.SparseLambda2 = 1e-4;
        config.MaxLambda = 2e-3;
        config.LambdaNum = stages;
        config.LambdaStageSteps = stageSteps;
        var run = options with { MaxSteps = stages * stageSteps, EvalEvery = stageSteps, Schedule = LearningRateSchedule.Constant };
        var clock = Stopwatch.StartNew();
        var (test, _, rank, _) = Train(baseDir, data, output, run, _ => config);
        var evals = File.ReadLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o.ContainsKey("accuracy")).ToList();
        var ranks = File.ReadLines(Path.Combine(output, "ranks.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var xis = SoraGateOptimizer.LambdaList(config.SparseLambda2, config.LambdaSchedule, config.MaxLambda, config.LambdaNum);
        Console.WriteLine();
        Console.WriteLine($"SoRA sparsifying schedule: r_max 8 on 8 modules (64 gates), linear ξ {xis[0]:0.####} → {xis[^1]:0.####} in {stages} stages of {stageSteps} steps, constant lr after warm-up ({clock.Elapsed.TotalSeconds:F0} s)");
        Console.WriteLine("| stage | ξ | step | non-zero gates | ranks removed | validation accuracy |");
        Console.WriteLine("|---|---|---|---|---|---|");
        for (var s = 0; s < evals.Count; s++)
        {
            var step = evals[s]["step"]!.GetValue<int>();
            var gates = ranks.Last(r => r["step"]!.GetValue<int>() <= step)["ranks"]!.AsObject().Sum(kv => kv.Value!.GetValue<int>());
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {s + 1} | {xis[Math.Min(s, xis.Length - 1)]:0.#####} | {step} | {gates} | {1 - gates / 64.0:P0} | {evals[s]["accuracy"]!.GetValue<double>():F4} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"best validation checkpoint, pruned: {rank} ranks, test accuracy {test.Accuracy:F4}"));
    }

    private static string Slug(string name) => new(name.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
