using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Training.Baseline;

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
/// <param name="IsBaseline">The TF-IDF + logistic-regression row (no adapter: no parameters, ranks, steps or losses).</param>
public sealed record DemoRow(string Method, string Metric, double Value, double MacroF1, long TrainableParams, IReadOnlyDictionary<string, int> Ranks, double SecondsPerStep, IReadOnlyList<double> Losses, long AdapterParams = 0, string? OutputDirectory = null, bool IsBaseline = false);

/// <summary>
/// <c>peft demo</c>: fine-tunes a base encoder on a bundled task with every method that can train and
/// returns the TF-IDF + logistic-regression baseline's row followed by one row per method (the CLI
/// prints the table and writes the report with plots).
/// </summary>
public static class DemoRunner
{
    /// <summary>The first row's method name: the classical baseline on the same splits.</summary>
    public const string BaselineName = "tf-idf + logistic regression";

    /// <summary>
    /// Runs the demo: the baseline first, then every method. <paramref name="trainLimit"/>/<paramref name="evalLimit"/>
    /// truncate the data (tests); the baseline sees the same truncated splits.
    /// </summary>
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
        rows.Add(BaselineRow(train, validation, test, options.Metric, log));
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

    /// <summary>The baseline's row: TF-IDF + logistic regression fitted on <paramref name="train"/>, tuned on <paramref name="validation"/>, scored on <paramref name="test"/>.</summary>
    private static DemoRow BaselineRow(ClassificationDataset train, ClassificationDataset validation, ClassificationDataset test, string metric, TextWriter log)
    {
        var baseline = TfIdfBaseline.Fit(train, validation, test);
        var value = metric switch
        {
            "accuracy" => baseline.TestAccuracy,
            "macro_f1" => baseline.TestMacroF1,
            _ => throw new PeftConfigurationException($"the demo's baseline row reports accuracy or macro_f1, not '{metric}'"),
        };
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{BaselineName} (λ {baseline.Penalty:G3}, {baseline.Features:N0} features): test accuracy {baseline.TestAccuracy:F4}, macro-F1 {baseline.TestMacroF1:F4}"));
        return new DemoRow(BaselineName, metric, value, baseline.TestMacroF1, 0, new Dictionary<string, int>(), 0, [], IsBaseline: true);
    }

    /// <summary>The table as text: method, metric, macro-F1, trainable params, ranks, s/step ("–" where the baseline row has none).</summary>
    public static string Table(IReadOnlyList<DemoRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| method | test metric | macro-F1 | trainable params | final ranks | s/step |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            text.AppendLine(r.IsBaseline
                ? string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.Metric} {r.Value:F4} | {r.MacroF1:F4} | – | – | – |")
                : string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.Metric} {r.Value:F4} | {r.MacroF1:F4} | {r.TrainableParams:N0} | {RankSummary(r.Ranks)} | {r.SecondsPerStep:F3} |"));
        }

        return text.ToString();
    }

    /// <summary>
    /// The table as JSON records <c>{"method","metric","value","trainable_params","adapter_params","ranks","seconds_per_step"}</c>
    /// (the baseline's record has <c>null</c> parameters, ranks and seconds per step).
    /// </summary>
    public static JsonArray ToJson(IReadOnlyList<DemoRow> rows) =>
        new([.. rows.Select(r => (JsonNode?)new JsonObject
        {
            ["method"] = r.Method,
            ["metric"] = r.Metric,
            ["value"] = r.Value,
            ["trainable_params"] = r.IsBaseline ? null : r.TrainableParams,
            ["adapter_params"] = r.IsBaseline ? null : r.AdapterParams,
            ["ranks"] = r.IsBaseline ? null : new JsonObject(r.Ranks.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["seconds_per_step"] = r.IsBaseline ? null : r.SecondsPerStep,
        })]);

    /// <summary>Final ranks in a table cell: "r × modules" when all equal, else every rank.</summary>
    public static string RankSummary(IReadOnlyDictionary<string, int> ranks) =>
        ranks.Count == 0 ? "–" : ranks.Values.Distinct().Count() == 1 ? $"{ranks.Values.First()} × {ranks.Count}" : string.Join(" ", ranks.Values);
}
