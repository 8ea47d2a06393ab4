namespace PeftSharp.Training;

/// <summary>One evaluation.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Accuracy">Accuracy.</param>
/// <param name="MacroF1">Macro-F1.</param>
/// <param name="Mcc">Matthews correlation.</param>
public sealed record EvaluationResult(int Step, double Loss, double Accuracy, double MacroF1, double Mcc)
{
    /// <summary>The named metric.</summary>
    public double Get(string metric) => metric switch
    {
        "accuracy" => Accuracy,
        "macro_f1" => MacroF1,
        "mcc" => Mcc,
        _ => throw new ArgumentException($"unknown metric '{metric}'", nameof(metric)),
    };
}
