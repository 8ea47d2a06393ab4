using System.Diagnostics;
using System.Globalization;
using PeftSharp.Training;

namespace PeftSharp.Benchmarks;

/// <summary>
/// The classical baseline the adapters must beat: TF-IDF (word unigrams and bigrams) and logistic
/// regression on the bundled tasks, the L2 penalty chosen on the validation split, reported on test.
/// </summary>
public static class BaselineBench
{
    /// <summary>The tasks under <c>data/</c>.</summary>
    public static readonly IReadOnlyList<string> Tasks = ["sotu-era", "spam"];

    /// <summary>The L2 penalties tried.</summary>
    public static readonly IReadOnlyList<double> Penalties = [1e-3, 1e-4, 1e-5, 0];

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
            var vectorizer = TfIdfVectorizer.Fit(train.Examples.Select(e => e.Text).ToList());
            var trainX = train.Examples.Select(e => vectorizer.Transform(e.Text)).ToList();
            var trainY = train.Examples.Select(e => e.Label).ToList();
            (LogisticRegression Model, double Penalty, double Accuracy)? best = null;
            foreach (var penalty in Penalties)
            {
                var model = LogisticRegression.Train(trainX, trainY, train.Labels.Count, vectorizer.Features, penalty);
                var accuracy = Evaluate(model, vectorizer, validation).Accuracy;
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"baseline {task}: λ {penalty:G3} → validation accuracy {accuracy:F4}"));
                if (best is null || accuracy > best.Value.Accuracy)
                {
                    best = (model, penalty, accuracy);
                }
            }

            var (accuracyTest, f1Test) = Evaluate(best!.Value.Model, vectorizer, test);
            var detail = string.Create(CultureInfo.InvariantCulture,
                $"TF-IDF (1–2-grams, min_df 2, {vectorizer.Features:N0} features) + logistic regression, λ {best.Value.Penalty:G3} (validation accuracy {best.Value.Accuracy:F4}); {train.Examples.Count}/{validation.Examples.Count}/{test.Examples.Count} examples; {clock.Elapsed.TotalSeconds:F1} s");
            records.Add(new BenchRecord($"baseline {task} test accuracy", accuracyTest, "fraction", Detail: detail));
            records.Add(new BenchRecord($"baseline {task} test macro-F1", f1Test, "fraction"));
            log.WriteLine(records[^2]);
            log.WriteLine(records[^1]);
        }

        return records;
    }

    private static (double Accuracy, double MacroF1) Evaluate(LogisticRegression model, TfIdfVectorizer vectorizer, ClassificationDataset data)
    {
        var predicted = data.Examples.Select(e => model.Predict(vectorizer.Transform(e.Text))).ToList();
        var actual = data.Examples.Select(e => e.Label).ToList();
        return (Metrics.Accuracy(predicted, actual), Metrics.MacroF1(predicted, actual));
    }
}
