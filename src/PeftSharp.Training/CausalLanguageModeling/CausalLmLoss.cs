using static TorchSharp.torch;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// The next-token loss of transformers' causal-LM heads: the logits at position <c>t</c> predict the
/// label at <c>t + 1</c>; labels equal to <see cref="IgnoreIndex"/> (prompt tokens, padding) are not
/// supervised. The mean is over every supervised token of the batch, so packing examples into one
/// row or padding them into several gives the same loss.
/// </summary>
public static class CausalLmLoss
{
    /// <summary>The label of a position that is not supervised (PyTorch's and transformers' −100).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Mean cross-entropy of <paramref name="logits"/> <c>(batch, T, vocab)</c> against
    /// <paramref name="labels"/> <c>(batch, T)</c> shifted by one position, computed in fp32 whatever
    /// the logits' dtype.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not match, or no label is supervised.</exception>
    public static Tensor Compute(Tensor logits, Tensor labels)
    {
        var (sum, count) = Sum(logits, labels);
        using (sum)
        {
            if (count == 0)
            {
                throw new ArgumentException("no label of the batch is supervised (every label is -100)", nameof(labels));
            }

            return sum / count;
        }
    }

    /// <summary>
    /// The summed cross-entropy over the supervised positions and how many there are, for callers that
    /// average over several batches (evaluation, perplexity).
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not match.</exception>
    public static (Tensor Sum, long Count) Sum(Tensor logits, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.dim() != 3 || labels.dim() != 2 || logits.shape[0] != labels.shape[0] || logits.shape[1] != labels.shape[1])
        {
            throw new ArgumentException($"logits must be (batch, T, vocab) and labels (batch, T); got [{string.Join(", ", logits.shape)}] and [{string.Join(", ", labels.shape)}]", nameof(labels));
        }

        using var scope = NewDisposeScope();
        var vocabulary = logits.shape[2];
        var length = logits.shape[1];
        var predicted = logits.narrow(1, 0, length - 1).reshape(-1, vocabulary).to(ScalarType.Float32);
        var targets = labels.narrow(1, 1, length - 1).reshape(-1).to(ScalarType.Int64);
        var count = targets.ne(IgnoreIndex).sum().item<long>();
        var sum = nn.functional.cross_entropy(predicted, targets, ignore_index: IgnoreIndex, reduction: nn.Reduction.Sum);
        return (sum.MoveToOuterDisposeScope(), count);
    }
}
