using System.Diagnostics;
using PeftSharp.Training;
using PeftSharp.Training.Baseline;

namespace PeftSharp.Benchmarks;

/// <summary>
/// The classical baseline the adapters must beat (<see cref="TfIdfBaseline"/>) on the bundled tasks:
/// TF-IDF + logistic regression, the L2 penalty chosen on the validation split, reported on test.
/// </summary>
public static class BaselineBench
{
    /// <summary>The tasks under <c>data/</c>.</summary>
    public static readonly IReadOnlyList<string> Tasks = ["sotu-era", "spam"];

    /// <summary>Test accuracy and macro-F1 of TF-IDF + logistic regression on each task.</summary>
    public static List<BenchRecord> Run(string root, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var records = new List<BenchRecord>();
        foreach (var task in Tasks)
        {
            var clock = Stopwatch.StartNew();
            var directory = Path.Combine(root, "data", task);
            var train = ClassificationDataset.Load(Path.Combine(directory, "train.jsonl"));
            var validation = ClassificationDataset.Load(Path.Combine(directory, "validation.jsonl"), labels: train.Labels);
            var test = ClassificationDataset.Load(Path.Combine(directory, "test.jsonl"), labels: train.Labels);
            var baseline = TfIdfBaseline.Fit(train, validation, test, (penalty, accuracy) =>
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"baseline {task}: λ {penalty:G3} → validation accuracy {accuracy:F4}")));
            var detail = string.Create(CultureInfo.InvariantCulture,
                $"TF-IDF (1–2-grams, min_df 2, {baseline.Features:N0} features) + logistic regression, λ {baseline.Penalty:G3} (validation accuracy {baseline.ValidationAccuracy:F4}); {train.Examples.Count}/{validation.Examples.Count}/{test.Examples.Count} examples; {clock.Elapsed.TotalSeconds:F1} s");
            records.Add(new BenchRecord($"baseline {task} test accuracy", baseline.TestAccuracy, "fraction", Detail: detail));
            records.Add(new BenchRecord($"baseline {task} test macro-F1", baseline.TestMacroF1, "fraction"));
            log.WriteLine(records[^2]);
            log.WriteLine(records[^1]);
        }

        return records;
    }
}
