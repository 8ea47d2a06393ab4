using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Models;

namespace PeftSharp.Training;

/// <summary>One method's line in the demo table.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Metric">Metric name.</param>
/// <param name="Value">Test-set value of the metric (best validation checkpoint's adapter is the trained one at the end).</param>
/// <param name="MacroF1">Test macro-F1.</param>
/// <param name="TrainableParams">Trainable parameters.</param>
/// <param name="Ranks">Final rank of every adapted module (module name → rank).</param>
/// <param name="SecondsPerStep">Wall time per optimizer step.</param>
/// <param name="Losses">Training loss per step.</param>
/// <param name="AdapterParams">Trainable parameters inside the adapter paths (each tied tensor once; the trained head excluded).</param>
/// <param name="OutputDirectory">The method's run folder (metrics.jsonl, ranks.jsonl, best/).</param>
public sealed record DemoRow(string Method, string Metric, double Value, double MacroF1, long TrainableParams, IReadOnlyDictionary<string, int> Ranks, double SecondsPerStep, IReadOnlyList<double> Losses, long AdapterParams = 0, string? OutputDirectory = null);

/// <summary>
/// <c>peft demo</c>: fine-tunes the bundled base model on a bundled task with every method that can
/// train and returns one row per method (the CLI prints the table and writes the report with plots).
/// </summary>
public static class DemoRunner
{
    /// <summary>Runs the demo. <paramref name="trainLimit"/>/<paramref name="evalLimit"/> truncate the data (tests).</summary>
    public static IReadOnlyList<DemoRow> Run(string baseDirectory, string dataDirectory, string outputDirectory, TrainerOptions options, TextWriter log, int? trainLimit = null, int? evalLimit = null, IReadOnlyList<string>? methods = null, Func<string, IProgress<TrainingProgress>?>? progressFor = null)
    {
        var train = ClassificationDataset.Load(Path.Combine(dataDirectory, "train.jsonl"));
        var validation = ClassificationDataset.Load(Path.Combine(dataDirectory, "validation.jsonl"), labels: train.Labels);
        var test = ClassificationDataset.Load(Path.Combine(dataDirectory, "test.jsonl"), labels: train.Labels);
        if (trainLimit is { } t)
        {
            train = train.Take(t);
        }

        if (evalLimit is { } e)
        {
            validation = validation.Take(e);
            test = test.Take(e);
        }

        var tokenizer = TextTokenizer.TryLoad(baseDirectory) ?? throw new PeftException($"{baseDirectory} has no tokenizer files");
        var rows = new List<DemoRow>();
        var available = AdapterMethodRegistry.All.Where(m => m.CreateTrainingConfig(1) is not null && (methods is not { Count: > 0 } || methods.Contains(m.Name))).ToList();
        if (available.Count == 0)
        {
            throw new PeftConfigurationException($"no trainable method matches {string.Join(", ", methods ?? [])} (available: {string.Join(", ", AdapterMethodRegistry.All.Where(m => m.CreateTrainingConfig(1) is not null).Select(m => m.Name))})");
        }
        log.WriteLine($"task {Path.GetFileName(Path.GetFullPath(dataDirectory))}: {train.Examples.Count} train / {validation.Examples.Count} validation / {test.Examples.Count} test, {train.Labels.Count} labels; methods: {string.Join(", ", available.Select(m => m.Name))}");
        foreach (var method in available)
        {
            TorchSharp.torch.manual_seed(options.Seed);
            var model = PretrainedModel.ForSequenceClassification(baseDirectory, train.Labels, out _);
            var methodOptions = options with { OutputDirectory = Path.Combine(outputDirectory, method.Name) };
            if (Directory.Exists(methodOptions.OutputDirectory))
            {
                Directory.Delete(methodOptions.OutputDirectory, recursive: true);
            }

            var peft = PeftModel.Create(model, method.CreateTrainingConfig(methodOptions.TotalSteps(train.Examples.Count))!);
            var trainer = new Trainer(model, peft, tokenizer, methodOptions, log, progressFor?.Invoke(method.Name));
            log.WriteLine($"== {method.Name}: {peft.GetParameterReport()}");
            var result = trainer.Train(train, validation);
            var trainable = peft.GetParameterReport().Trainable;
            var adapterParams = peft.GetAdapterParameterCount();
            if (result.Best is not null)
            {
                // The best adapter as published (compact where the method prunes), on a fresh base.
                trainer = Trainer.ForSavedAdapter(baseDirectory, Path.Combine(methodOptions.OutputDirectory!, "best"), train.Labels, tokenizer, methodOptions, log);
            }

            var score = trainer.Evaluate(test);
            var ranks = trainer.Peft.GetEffectiveRanks();
            rows.Add(new DemoRow(method.Name, options.Metric, score.Get(options.Metric), score.MacroF1, trainable, ranks, result.SecondsPerStep, result.Losses, adapterParams, methodOptions.OutputDirectory));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{method.Name}: test {options.Metric} {score.Get(options.Metric):F4}, macro-F1 {score.MacroF1:F4}"));
        }

        return rows;
    }

    /// <summary>The table as text: method, metric, macro-F1, trainable params, ranks, s/step.</summary>
    public static string Table(IReadOnlyList<DemoRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| method | test metric | macro-F1 | trainable params | final ranks | s/step |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.Metric} {r.Value:F4} | {r.MacroF1:F4} | {r.TrainableParams:N0} | {RankSummary(r.Ranks)} | {r.SecondsPerStep:F3} |"));
        }

        return text.ToString();
    }

    /// <summary>The table as JSON records <c>{"method","metric","value","trainable_params","ranks","seconds_per_step"}</c>.</summary>
    public static JsonArray ToJson(IReadOnlyList<DemoRow> rows) =>
        new([.. rows.Select(r => (JsonNode?)new JsonObject
        {
            ["method"] = r.Method,
            ["metric"] = r.Metric,
            ["value"] = r.Value,
            ["trainable_params"] = r.TrainableParams,
            ["adapter_params"] = r.AdapterParams,
            ["ranks"] = new JsonObject(r.Ranks.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["seconds_per_step"] = r.SecondsPerStep,
        })]);

    /// <summary>Final ranks in a table cell: "r × modules" when all equal, else every rank.</summary>
    public static string RankSummary(IReadOnlyDictionary<string, int> ranks) =>
        ranks.Count == 0 ? "–" : ranks.Values.Distinct().Count() == 1 ? $"{ranks.Values.First()} × {ranks.Count}" : string.Join(" ", ranks.Values);
}
