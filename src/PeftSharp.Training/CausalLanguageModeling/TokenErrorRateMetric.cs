namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// The token error rate: the Levenshtein distance between the whitespace-separated tokens of each
/// generation and its reference, summed over the samples and divided by the total number of reference
/// tokens (g2p's phoneme error rate; a word error rate over words). Can exceed 1 when generations run long.
/// </summary>
/// <param name="name">The metric's name.</param>
public sealed class TokenErrorRateMetric(string name = "token_error_rate") : IGenerationMetric
{
    /// <inheritdoc />
    public string Name { get; } = name;

    /// <inheritdoc />
    public bool HigherIsBetter => false;

    /// <inheritdoc />
    /// <returns>NaN when the references hold no token at all.</returns>
    public double Compute(IReadOnlyList<GenerationSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        long errors = 0, total = 0;
        foreach (var sample in samples)
        {
            var reference = Tokens(sample.Reference);
            errors += EditDistance.Levenshtein(reference, Tokens(sample.Generated));
            total += reference.Length;
        }

        return total == 0 ? double.NaN : errors / (double)total;
    }

    /// <summary>The whitespace-separated tokens of <paramref name="text"/>.</summary>
    public static string[] Tokens(string text) =>
        (text ?? throw new ArgumentNullException(nameof(text))).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
