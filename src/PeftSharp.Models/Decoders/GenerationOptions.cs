namespace PeftSharp.Models.Decoders;

/// <summary>How <see cref="DecoderGenerator"/> continues prompts.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate per prompt.</summary>
    public int MaxNewTokens { get; init; } = 32;

    /// <summary>Sample (with <see cref="Temperature"/>, <see cref="TopK"/>, <see cref="TopP"/>) instead of taking the most likely token.</summary>
    public bool DoSample { get; init; }

    /// <summary>Softmax temperature for sampling (positive).</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Sample among the <see cref="TopK"/> most likely tokens; 0: no limit.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches <see cref="TopP"/>; 1: no limit.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>CTRL's repetition penalty on tokens of the prompt and the output so far (positive logits divided, negative multiplied); 1: off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>Seed of the private sampling generator (null: a random seed).</summary>
    public ulong? Seed { get; init; }

    /// <summary>Prompts per batch (left-padded to the longest).</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Keep keys and values in a <see cref="KvCache"/> (false: recompute the whole prefix every step; for comparison).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>End-of-sequence ids (null: the model's); generation of a sequence stops after the first, which is kept.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }

    /// <summary>Texts that end a sequence once its decoded output contains one (needs a decoder function).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Throws for values out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        // The messages say what the value must be without naming the setting: ParamName names it.
        static void Require(bool condition, object value, string expected, string name)
        {
            if (!condition)
            {
                throw new ArgumentOutOfRangeException(name, value, $"must be {expected}");
            }
        }

        Require(MaxNewTokens >= 0, MaxNewTokens, "≥ 0", nameof(MaxNewTokens));
        Require(BatchSize >= 1, BatchSize, "at least 1", nameof(BatchSize));
        Require(TopK >= 0, TopK, "≥ 0 (0: no limit)", nameof(TopK));
        Require(Temperature > 0 && !double.IsInfinity(Temperature), Temperature, "positive and finite", nameof(Temperature));
        Require(TopP is > 0 and <= 1, TopP, "in (0, 1]", nameof(TopP));
        Require(RepetitionPenalty > 0 && !double.IsInfinity(RepetitionPenalty), RepetitionPenalty, "positive and finite", nameof(RepetitionPenalty));
    }
}
