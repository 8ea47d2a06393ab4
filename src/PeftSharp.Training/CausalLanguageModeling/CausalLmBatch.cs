using static TorchSharp.torch;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>One causal-LM micro-batch as the model takes it.</summary>
/// <param name="InputIds">Token ids <c>(batch, T)</c>; padding positions hold the pad id.</param>
/// <param name="Labels">Labels <c>(batch, T)</c>: the id where supervised, −100 elsewhere and at every padding position.</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding <c>(batch, T)</c>; null when nothing is padded.</param>
/// <param name="PositionIds">RoPE positions <c>(batch, T)</c> (a packed batch restarts them per example); null: derived from the mask.</param>
public sealed record CausalLmBatch(Tensor InputIds, Tensor Labels, Tensor? AttentionMask, Tensor? PositionIds = null);

/// <summary>
/// Where a causal-LM task gets its micro-batches: padded (<see cref="LengthGroupedBatcher"/>) or packed.
/// A batch must be a function of (<c>epoch</c>, <c>index</c>) and the batcher's seed alone, so a resumed
/// run sees the batches of the uninterrupted one.
/// </summary>
public interface ICausalLmBatcher
{
    /// <summary>Micro-batches in one pass over the data.</summary>
    int BatchesPerEpoch { get; }

    /// <summary>
    /// Micro-batch <paramref name="index"/> of <paramref name="epoch"/>; an index at or beyond
    /// <see cref="BatchesPerEpoch"/> repeats an earlier batch of the epoch. The tensors belong to the
    /// caller's dispose scope.
    /// </summary>
    CausalLmBatch Batch(int epoch, int index);
}
