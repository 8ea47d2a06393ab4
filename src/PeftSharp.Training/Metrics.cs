namespace PeftSharp.Training;

/// <summary>Classification metrics from predicted and true label ids.</summary>
public static class Metrics
{
    /// <summary>Share of correct predictions.</summary>
    public static double Accuracy(IReadOnlyList<int> predicted, IReadOnlyList<int> actual) =>
        actual.Count == 0 ? 0 : predicted.Zip(actual).Count(p => p.First == p.Second) / (double)actual.Count;

    /// <summary>Unweighted mean of per-class F1 over the classes that occur in either list.</summary>
    public static double MacroF1(IReadOnlyList<int> predicted, IReadOnlyList<int> actual)
    {
        var classes = predicted.Concat(actual).Distinct().ToList();
        if (classes.Count == 0)
        {
            return 0;
        }

        return classes.Average(c =>
        {
            var tp = predicted.Zip(actual).Count(p => p.First == c && p.Second == c);
            var fp = predicted.Zip(actual).Count(p => p.First == c && p.Second != c);
            var fn = predicted.Zip(actual).Count(p => p.First != c && p.Second == c);
            return tp == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
        });
    }

    /// <summary>Matthews correlation coefficient, multi-class form (Gorodkin's R_K); 0 when undefined.</summary>
    public static double Mcc(IReadOnlyList<int> predicted, IReadOnlyList<int> actual)
    {
        var classes = predicted.Concat(actual).Distinct().ToList();
        double n = actual.Count, correct = predicted.Zip(actual).Count(p => p.First == p.Second);
        double sumPt = 0, sumP2 = 0, sumT2 = 0;
        foreach (var c in classes)
        {
            double p = predicted.Count(x => x == c), t = actual.Count(x => x == c);
            sumPt += p * t;
            sumP2 += p * p;
            sumT2 += t * t;
        }

        var denominator = Math.Sqrt((n * n - sumP2) * (n * n - sumT2));
        return denominator == 0 ? 0 : (correct * n - sumPt) / denominator;
    }

    /// <summary>The named metric: <c>accuracy</c>, <c>macro_f1</c> or <c>mcc</c>.</summary>
    public static double Compute(string name, IReadOnlyList<int> predicted, IReadOnlyList<int> actual) => name switch
    {
        "accuracy" => Accuracy(predicted, actual),
        "macro_f1" => MacroF1(predicted, actual),
        "mcc" => Mcc(predicted, actual),
        _ => throw new ArgumentException($"unknown metric '{name}' (accuracy, macro_f1, mcc)", nameof(name)),
    };
}
