namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// More metrics for a <see cref="CausalLmTask"/>'s evaluation besides loss and perplexity, such as
/// those of generating on held-out prompts (word accuracy, phoneme error rate).
/// </summary>
public interface ICausalLmMetrics
{
    /// <summary>The metrics <see cref="Compute"/> returns.</summary>
    IReadOnlyList<string> MetricNames { get; }

    /// <summary>True when a larger value of <paramref name="metric"/> is better (accuracy), false when smaller is (an error rate).</summary>
    bool IsHigherBetter(string metric);

    /// <summary>The metrics of the model now (called in eval mode without gradients), reporting progress to <paramref name="progress"/>.</summary>
    IReadOnlyDictionary<string, double> Compute(IProgress<TrainingProgress>? progress);
}
