namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>The built-in generation metrics by name, and the sets a task reports.</summary>
public static class GenerationMetrics
{
    /// <summary>Exact match of the whole completion, g2p's word accuracy.</summary>
    public const string WordAccuracy = "word_accuracy";

    /// <summary>Levenshtein distance over space-separated tokens per reference token, g2p's phoneme error rate.</summary>
    public const string PhonemeErrorRate = "phoneme_error_rate";

    /// <summary>Exact match of the whole completion.</summary>
    public const string ExactMatch = "exact_match";

    /// <summary>Levenshtein distance over space-separated tokens per reference token.</summary>
    public const string TokenErrorRate = "token_error_rate";

    private static readonly IGenerationMetric[] BuiltIn =
    [
        new ExactMatchMetric(WordAccuracy),
        new TokenErrorRateMetric(PhonemeErrorRate),
        new ExactMatchMetric(ExactMatch),
        new TokenErrorRateMetric(TokenErrorRate),
    ];

    /// <summary>The metrics any prompt/completion task reports unless told otherwise: <c>exact_match</c> and <c>token_error_rate</c>.</summary>
    public static IReadOnlyList<IGenerationMetric> Default { get; } = [BuiltIn[2], BuiltIn[3]];

    /// <summary>Every built-in metric.</summary>
    public static IReadOnlyList<IGenerationMetric> All => BuiltIn;

    /// <summary>Grapheme-to-phoneme's metrics (the bundled g2p demo's): the same two under g2p's names, word accuracy and phoneme error rate.</summary>
    public static IReadOnlyList<IGenerationMetric> G2p { get; } = [BuiltIn[0], BuiltIn[1]];

    /// <summary>The built-in metric called <paramref name="name"/> (ordinal, any case).</summary>
    /// <exception cref="ArgumentException">No built-in metric has that name (the message lists them).</exception>
    public static IGenerationMetric Find(string name) =>
        BuiltIn.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown generation metric '{name}' (known: {string.Join(", ", BuiltIn.Select(m => m.Name))})", nameof(name));
}
