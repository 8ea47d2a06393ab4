using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Cli.Reports;

/// <summary>
/// The held-out generation of a causal-LM run for its report: the file and the records it holds, and the
/// evaluation of the published adapter with the metrics it was scored by, or (<paramref name="Evaluation"/> null) why there is none.
/// </summary>
/// <param name="File">The held-out file (null: none).</param>
/// <param name="Records">Records in it.</param>
/// <param name="Evaluation">What the published adapter's generations scored (null: not run).</param>
/// <param name="Metrics">The metrics scored, in order.</param>
/// <param name="Skipped">Why nothing was generated (when <paramref name="Evaluation"/> is null).</param>
internal sealed record GenerationReport(string? File, int Records, GenerativeEvaluation? Evaluation, IReadOnlyList<IGenerationMetric> Metrics, string? Skipped);

/// <summary>The <c>report.md</c> (with PNG plots beside it) each training run and each demo writes.</summary>
internal static class RunReport
{
    private static readonly string[] MetricNames = ["accuracy", "macro_f1", "mcc"];

    /// <summary>results.json: indented, text as written (a prompt's <c>-&gt;</c> stays readable).</summary>
    private static readonly System.Text.Json.JsonSerializerOptions ResultsJson = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// A training run's report in <paramref name="output"/>: configuration, data, metrics table, the
    /// loss and validation curves, and, for methods whose ranks move or differ, the rank plots.
    /// </summary>
    public static string WriteTrain(string output, string method, string configJson, string data, TrainerOptions options, TrainResult run, EvaluationResult? test)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"# peft train: {method}");
        report.AppendLine();
        report.AppendLine(RunLine(data, run.Steps, options, run.SecondsPerStep));
        report.AppendLine();
        report.AppendLine("| evaluation | step | loss | accuracy | macro-F1 | MCC |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var e in run.Evaluations)
        {
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| validation{(e.Step == run.Best?.Step ? " (best)" : string.Empty)} | {e.Step} | {e.Loss:F4} | {e.Accuracy:F4} | {e.MacroF1:F4} | {e.Mcc:F4} |"));
        }

        if (test is not null)
        {
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| test (best adapter) | {run.Best?.Step ?? run.Steps} | {test.Loss:F4} | {test.Accuracy:F4} | {test.MacroF1:F4} | {test.Mcc:F4} |"));
        }

        report.AppendLine();
        if (AppendLossPlot(report, output, method) is { Count: > 0 } evaluations)
        {
            Charts.Lines(Path.Combine(output, "metrics.png"), $"{method}: validation metrics", "optimizer step", "value",
                [.. MetricNames.Select(k => (k, (IReadOnlyList<double>)evaluations.Select(e => (double)e["step"]!.GetValue<int>()).ToList(), (IReadOnlyList<double>)evaluations.Select(e => e[k]!.GetValue<double>()).ToList()))]);
            report.AppendLine();
            report.AppendLine("![validation metrics](metrics.png)");
        }

        return Finish(report, output, method, configJson);
    }

    /// <summary>
    /// A causal-LM training run's report in <paramref name="output"/>: its settings, the validation loss and
    /// perplexity of every evaluation, the training and validation loss curves, the held-out generation's
    /// metrics with a few samples (prompt, reference, generated) — or why there is none — and rank plots;
    /// the same numbers go to results.json beside it.
    /// </summary>
    public static string WriteCausalTrain(string output, string method, string configJson, string data, string settings, TrainerOptions options, TrainingOutcome run, string adapter, GenerationReport generation)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"# peft train: {method} (causal LM)");
        report.AppendLine();
        report.AppendLine(RunLine(data, run.Steps, options, run.SecondsPerStep));
        report.AppendLine(settings);
        report.AppendLine();
        report.AppendLine("## Validation loss and perplexity");
        report.AppendLine();
        if (run.Evaluations.Count == 0)
        {
            report.AppendLine("No validation.jsonl: no validation loss; the adapter of the last step is the result (`adapter/`).");
        }
        else
        {
            report.AppendLine("| evaluation | step | loss | perplexity |");
            report.AppendLine("|---|---|---|---|");
            foreach (var e in run.Evaluations)
            {
                report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| validation{(e.Step == run.Best?.Step ? " (best)" : string.Empty)} | {e.Step} | {e.Loss:F4} | {e.Metrics[CausalLmTask.Perplexity]:F4} |"));
            }
        }

        report.AppendLine();
        AppendLossPlot(report, output, method);
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"## Generation{(generation.File is { } file ? $" on {Path.GetFileName(file)}" : string.Empty)}");
        report.AppendLine();
        if (generation.Evaluation is not { } evaluation)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"Not run: {generation.Skipped}.");
        }
        else
        {
            var step = run.Best is { } best ? $"the best adapter (step {best.Step}, `{adapter}/`)" : $"the adapter of the last step (`{adapter}/`)";
            report.AppendLine(CultureInfo.InvariantCulture, $"Greedy generation by {step} for the first {evaluation.Count} of {generation.Records} records, scored against their references.");
            report.AppendLine();
            report.AppendLine("| metric | value |");
            report.AppendLine("|---|---|");
            foreach (var metric in generation.Metrics)
            {
                report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {metric.Name} ({(metric.HigherIsBetter ? "higher" : "lower")} is better) | {evaluation.Metrics[metric.Name]:F4} |"));
            }

            report.AppendLine();
            report.AppendLine("### Samples");
            report.AppendLine();
            report.Append(evaluation.SamplesMarkdown());
        }

        WriteResults(output, run, adapter, generation);
        return Finish(report, output, method, configJson);
    }

    /// <summary>
    /// results.json: the steps, the best evaluation's step, validation loss and perplexity (null without
    /// validation), the published adapter's folder, and its generation result as <c>peft eval</c> prints it with the file and record count (null when not run).
    /// </summary>
    private static void WriteResults(string output, TrainingOutcome run, string adapter, GenerationReport generation)
    {
        var json = generation.Evaluation?.ToJson();
        if (json is not null)
        {
            json["file"] = Path.GetFileName(generation.File);
            json["records"] = generation.Records;
        }

        var results = new System.Text.Json.Nodes.JsonObject
        {
            ["steps"] = run.Steps,
            ["best_step"] = run.Best?.Step,
            ["eval_loss"] = run.Best?.Loss,
            [CausalLmTask.Perplexity] = run.Best?.Metrics[CausalLmTask.Perplexity],
            ["adapter"] = adapter,
            ["generation"] = json,
        };
        AtomicFile.WriteAllText(Path.Combine(output, "results.json"), results.ToJsonString(ResultsJson) + "\n");
    }

    /// <summary>The line of a run's report that says what it trained on and how.</summary>
    private static string RunLine(string data, int steps, TrainerOptions options, double secondsPerStep) =>
        string.Create(CultureInfo.InvariantCulture, $"Data: `{data}`; {steps} optimizer steps, batch {options.BatchSize} × {options.GradientAccumulation}, lr {options.LearningRate}, {options.Schedule} schedule, seed {options.Seed}; {secondsPerStep:F3} s/step.");

    /// <summary>The training and validation loss over steps from the run's metrics.jsonl, as loss.png; returns the evaluation records (null without a metrics.jsonl).</summary>
    private static List<System.Text.Json.Nodes.JsonObject>? AppendLossPlot(StringBuilder report, string output, string method)
    {
        var metrics = Path.Combine(output, "metrics.jsonl");
        if (!File.Exists(metrics))
        {
            return null;
        }

        var (steps, losses, evaluations) = RunFiles.ReadMetrics(metrics);
        Charts.Lines(Path.Combine(output, "loss.png"), $"{method}: training loss", "optimizer step", "cross-entropy",
            [("training loss (moving average of 20)", steps, Smooth(losses, 20)), ("validation loss", evaluations.Select(e => (double)e["step"]!.GetValue<int>()).ToList(), evaluations.Select(e => e["eval_loss"]!.GetValue<double>()).ToList())]);
        report.AppendLine("![loss](loss.png)");
        return evaluations;
    }

    /// <summary>Adds the rank plots and the adapter configuration and writes report.md; returns its path.</summary>
    private static string Finish(StringBuilder report, string output, string method, string configJson)
    {
        AppendRankPlots(report, output, method, string.Empty);
        report.AppendLine();
        report.AppendLine("## Adapter configuration");
        report.AppendLine();
        report.AppendLine("```json");
        report.AppendLine(configJson.TrimEnd());
        report.AppendLine("```");
        var path = Path.Combine(output, "report.md");
        AtomicFile.WriteAllText(path, report.ToString());
        return path;
    }

    /// <summary>The demo's report: the table, loss curves of every method, the budget–metric frontier and rank plots.</summary>
    public static string WriteDemo(string output, IReadOnlyList<DemoRow> rows, string task, TrainerOptions options)
    {
        var report = new StringBuilder();
        report.AppendLine("# PeftSharp demo");
        report.AppendLine();
        report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Task `{task}`; every method with the same base, data, seed ({options.Seed}), batch {options.BatchSize}, lr {options.LearningRate}, max length {options.MaxLength}; test metric of the best validation checkpoint."));
        report.AppendLine();
        report.AppendLine("| method | test metric | macro-F1 | adapter params | trainable params (with head) | final ranks | s/step |");
        report.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            var ranks = r.Ranks.Count == 0 ? "–" : r.Ranks.Values.Distinct().Count() == 1 ? $"{r.Ranks.Values.First()} × {r.Ranks.Count}" : string.Join(" ", r.Ranks.Values);
            report.AppendLine(r.IsBaseline
                ? string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.Metric} {r.Value:F4} | {r.MacroF1:F4} | – | – | – | – |")
                : string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.Metric} {r.Value:F4} | {r.MacroF1:F4} | {r.AdapterParams:N0} | {r.TrainableParams:N0} | {ranks} | {r.SecondsPerStep:F3} |"));
        }

        rows = [.. rows.Where(r => !r.IsBaseline)];

        report.AppendLine();
        Charts.Lines(Path.Combine(output, "loss.png"), "Training loss (moving average of 20 steps)", "optimizer step", "cross-entropy",
            [.. rows.Select(r => (r.Method, (IReadOnlyList<double>)Enumerable.Range(1, r.Losses.Count).Select(i => (double)i).ToList(), (IReadOnlyList<double>)Smooth(r.Losses, 20)))]);
        report.AppendLine("![training loss](loss.png)");
        report.AppendLine();
        Charts.Frontier(Path.Combine(output, "frontier.png"), "Test metric vs adapter parameters", (rows.Count > 0 ? rows[0].Metric : null) ?? "metric",
            [.. rows.Select(r => (r.Method, (double)r.AdapterParams, r.Value))]);
        report.AppendLine("![budget vs metric](frontier.png)");
        foreach (var row in rows.Where(r => r.OutputDirectory is not null))
        {
            AppendRankPlots(report, row.OutputDirectory!, row.Method, Path.GetFileName(row.OutputDirectory!) + "/");
        }

        var path = Path.Combine(output, "report.md");
        AtomicFile.WriteAllText(path, report.ToString());
        return path;
    }

    /// <summary>Rank heatmap (final) and rank evolution, when the run's ranks.jsonl shows ranks that moved or differ.</summary>
    private static void AppendRankPlots(StringBuilder report, string runDirectory, string method, string linkPrefix)
    {
        var history = Path.Combine(runDirectory, "ranks.jsonl");
        if (!File.Exists(history))
        {
            return;
        }

        var records = RunFiles.ReadRanks(history);
        if (records.Count == 0 || (records.Count == 1 && records[0].Ranks.Values.Distinct().Count() <= 1))
        {
            return;
        }

        Charts.RankHeatmap(Path.Combine(runDirectory, "ranks.png"), $"{method}: final rank per module", records[^1].Ranks);
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"![{method} ranks]({linkPrefix}ranks.png)");
        if (records.Count > 1)
        {
            Charts.RankEvolution(Path.Combine(runDirectory, "rank-evolution.png"), $"{method}: rank per module over training", records);
            report.AppendLine();
            report.AppendLine(CultureInfo.InvariantCulture, $"![{method} rank evolution]({linkPrefix}rank-evolution.png)");
        }
    }

    /// <summary>
    /// The g2p demo's section of the demo report in <paramref name="output"/> (added after the
    /// classification section already in report.md when <paramref name="append"/>, else a report of its own): the table, the
    /// training loss of every method, rank plots, and samples (prompt, reference, generated) per method.
    /// </summary>
    public static string WriteGenerativeDemo(string output, IReadOnlyList<GenerativeDemoRow> rows, string task, GenerativeDemoOptions options, bool append)
    {
        var path = Path.Combine(output, "report.md");
        var report = new StringBuilder(append && File.Exists(path) ? File.ReadAllText(path).TrimEnd() + "\n\n" : "# PeftSharp demo\n\n");
        report.AppendLine(CultureInfo.InvariantCulture, $"## Generative: `{task}` on the decoder");
        report.AppendLine();
        report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Every method with its causal-LM preset and recommended learning rate, the same base, data, seed ({options.Seed}), {options.Steps} steps of batch {options.BatchSize}, max length {options.MaxLength}; greedy generation on the first {(rows.Count > 0 ? rows[0].Evaluation.Count : 0)} test words; word accuracy (higher is better) and phoneme error rate (PER, lower is better)."));
        report.AppendLine();
        report.Append(GenerativeDemoRunner.Table(rows));
        report.AppendLine();
        Charts.Lines(Path.Combine(output, "g2p-loss.png"), $"{task}: training loss (moving average of 10 steps)", "optimizer step", "cross-entropy",
            [.. rows.Select(r => (r.Method, (IReadOnlyList<double>)Enumerable.Range(1, r.Losses.Count).Select(i => (double)i).ToList(), (IReadOnlyList<double>)Smooth(r.Losses, 10)))]);
        report.AppendLine(CultureInfo.InvariantCulture, $"![{task} training loss](g2p-loss.png)");
        foreach (var row in rows.Where(r => r.OutputDirectory is not null))
        {
            AppendRankPlots(report, row.OutputDirectory!, row.Method, Path.GetRelativePath(output, row.OutputDirectory!).Replace('\\', '/') + "/");
        }

        foreach (var row in rows)
        {
            report.AppendLine();
            report.AppendLine(CultureInfo.InvariantCulture, $"### {row.Method}: samples");
            report.AppendLine();
            report.Append(row.Evaluation.SamplesMarkdown());
        }

        AtomicFile.WriteAllText(path, report.ToString());
        return path;
    }

    private static List<double> Smooth(IReadOnlyList<double> values, int window)
    {
        var result = new List<double>(values.Count);
        double sum = 0;
        for (var i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window)
            {
                sum -= values[i - window];
            }

            result.Add(sum / Math.Min(i + 1, window));
        }

        return result;
    }
}
