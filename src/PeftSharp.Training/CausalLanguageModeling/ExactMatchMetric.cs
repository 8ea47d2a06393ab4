namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>The fraction of samples whose generation equals the reference exactly (both trimmed); g2p's word accuracy.</summary>
/// <param name="name">The metric's name.</param>
public sealed class ExactMatchMetric(string name = "exact_match") : IGenerationMetric
{
    /// <inheritdoc />
    public string Name { get; } = name;

    /// <inheritdoc />
    public bool HigherIsBetter => true;

    /// <inheritdoc />
    public double Compute(IReadOnlyList<GenerationSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        return samples.Count == 0 ? double.NaN : samples.Count(s => string.Equals(s.Reference.Trim(), s.Generated.Trim(), StringComparison.Ordinal)) / (double)samples.Count;
    }
}
