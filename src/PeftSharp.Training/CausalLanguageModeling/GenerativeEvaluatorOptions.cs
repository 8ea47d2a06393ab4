namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>How <see cref="GenerativeEvaluator"/> generates and scores.</summary>
public sealed record GenerativeEvaluatorOptions
{
    /// <summary>Tokens allowed beyond the reference's own token count (default 4); generation is greedy and stops earlier at end-of-sequence.</summary>
    public int Margin { get; init; } = 4;

    /// <summary>The most new tokens per prompt whatever the reference's length (default 128).</summary>
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>End a completion at its first newline (default true: one-line tasks such as g2p).</summary>
    public bool StopAtNewline { get; init; } = true;

    /// <summary>Prompts generated together, left-padded (default 8).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>How many samples (the first ones) the result keeps for reports (default 5).</summary>
    public int SampleCount { get; init; } = 5;

    /// <summary>The metrics computed (default <see cref="GenerationMetrics.Default"/>: exact match and token error rate).</summary>
    public IReadOnlyList<IGenerationMetric> Metrics { get; init; } = GenerationMetrics.Default;

    /// <summary>Throws for values out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(Margin);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxNewTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchSize);
        ArgumentOutOfRangeException.ThrowIfNegative(SampleCount);
        ArgumentNullException.ThrowIfNull(Metrics);
    }
}
