namespace PeftSharp.Training.Baseline;

/// <summary>
/// The classical baseline the adapters must beat: TF-IDF (word unigrams and bigrams, min_df 2) and
/// logistic regression fitted on a task's training split, the L2 penalty chosen on its validation
/// split (first best wins), scored on its test split.
/// </summary>
/// <param name="Penalty">The chosen L2 penalty.</param>
/// <param name="ValidationAccuracy">Validation accuracy at <paramref name="Penalty"/>.</param>
/// <param name="TestAccuracy">Test accuracy.</param>
/// <param name="TestMacroF1">Test macro-F1.</param>
/// <param name="Features">The number of TF-IDF features.</param>
public sealed record TfIdfBaseline(double Penalty, double ValidationAccuracy, double TestAccuracy, double TestMacroF1, int Features)
{
    /// <summary>The L2 penalties tried.</summary>
    public static readonly IReadOnlyList<double> Penalties = [1e-3, 1e-4, 1e-5, 0];

    /// <summary>Fits the baseline on <paramref name="train"/>, chooses the penalty on <paramref name="validation"/> and scores it on <paramref name="test"/>.</summary>
    /// <param name="train">Training split.</param>
    /// <param name="validation">Validation split (same label set).</param>
    /// <param name="test">Test split (same label set).</param>
    /// <param name="onPenalty">Called with each penalty and its validation accuracy (progress lines).</param>
    public static TfIdfBaseline Fit(ClassificationDataset train, ClassificationDataset validation, ClassificationDataset test, Action<double, double>? onPenalty = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(test);
        var vectorizer = TfIdfVectorizer.Fit([.. train.Examples.Select(e => e.Text)]);
        var trainX = train.Examples.Select(e => vectorizer.Transform(e.Text)).ToList();
        var trainY = train.Examples.Select(e => e.Label).ToList();
        (LogisticRegression Model, double Penalty, double Accuracy)? best = null;
        foreach (var penalty in Penalties)
        {
            var model = LogisticRegression.Train(trainX, trainY, train.Labels.Count, vectorizer.Features, penalty);
            var accuracy = Score(model, vectorizer, validation).Accuracy;
            onPenalty?.Invoke(penalty, accuracy);
            if (best is null || accuracy > best.Value.Accuracy)
            {
                best = (model, penalty, accuracy);
            }
        }

        var (testAccuracy, testF1) = Score(best!.Value.Model, vectorizer, test);
        return new TfIdfBaseline(best.Value.Penalty, best.Value.Accuracy, testAccuracy, testF1, vectorizer.Features);
    }

    private static (double Accuracy, double MacroF1) Score(LogisticRegression model, TfIdfVectorizer vectorizer, ClassificationDataset data)
    {
        var predicted = data.Examples.Select(e => model.Predict(vectorizer.Transform(e.Text))).ToList();
        var actual = data.Examples.Select(e => e.Label).ToList();
        return (Metrics.Accuracy(predicted, actual), Metrics.MacroF1(predicted, actual));
    }
}
