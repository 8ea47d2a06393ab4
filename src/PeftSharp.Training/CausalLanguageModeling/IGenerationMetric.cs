namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// A task metric over generated completions (<see cref="GenerativeEvaluator"/>): one number from the
/// references and generations of a whole evaluation set. Built-in ones are found by name in
/// <see cref="GenerationMetrics"/>.
/// </summary>
public interface IGenerationMetric
{
    /// <summary>The name reports and <c>metrics.jsonl</c> use (<c>word_accuracy</c>).</summary>
    string Name { get; }

    /// <summary>Whether a larger value is better (accuracy) or worse (an error rate).</summary>
    bool HigherIsBetter { get; }

    /// <summary>The metric over <paramref name="samples"/>.</summary>
    double Compute(IReadOnlyList<GenerationSample> samples);
}
