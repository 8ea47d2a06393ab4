using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Causal self-attention for training on short sequences, as batched GEMMs that autograd differentiates:
/// the query heads that share a key-value head are the rows of one query block (grouped-query attention
/// without repeating keys and values), and the queries are cut into blocks of <see cref="BlockPositions"/>
/// positions, each attending only to the keys up to its last position, so about half of the causal
/// triangle's masked products are never computed.
/// </summary>
/// <remarks>
/// libtorch's CPU flash attention (what SDPA runs here) computes small per-head tiles, and its backward
/// takes about three times its forward. At the SmolLM2-135M shape (batch 4, 9 query and 3 key-value
/// heads, head dim 64) forward and backward together measured 13.2 ms per layer at sequence 256 against
/// 8.7 ms here, 51 against 31 ms at 512 (docs/benchmarks.md). The price is memory: autograd keeps each
/// block's probabilities, about <c>batch·heads·S²/2</c> floats per layer, where flash attention keeps the
/// output and one log-sum-exp per row. So this serves sequences up to <see cref="MaxSequence"/> only.
/// </remarks>
internal static class BlockCausalAttention
{
    /// <summary>Query positions per block: the blocks' GEMMs stay large enough for BLAS, and the skipped share of the triangle large.</summary>
    public const int BlockPositions = 64;

    /// <summary>The longest sequence served (beyond it the kept probabilities cost more memory than the speed is worth).</summary>
    public const int MaxSequence = 512;

    /// <summary>
    /// Benchmarks on this thread: true sends every call to SDPA, to compare with a step written with SDPA
    /// that otherwise runs the same algorithm.
    /// </summary>
    [ThreadStatic]
    internal static bool Disabled;

    /// <summary>
    /// The attention output <c>(batch, S, heads·dim)</c> of <paramref name="query"/> <c>(batch, heads, S, dim)</c> over
    /// <paramref name="keys"/> and <paramref name="values"/> <c>(batch, kvHeads, S, dim)</c> of the same positions,
    /// or null when the call is not one this serves: dropout, a sequence longer than <see cref="MaxSequence"/>,
    /// cached positions, a dtype other than float32, or neither a mask nor the causal flag.
    /// </summary>
    /// <param name="query">Queries after RoPE.</param>
    /// <param name="keys">Keys after RoPE (not repeated per query head).</param>
    /// <param name="values">Values (not repeated).</param>
    /// <param name="mask">
    /// The decoder's additive mask <c>(batch or 1, 1, S, S)</c> from <see cref="CausalMask"/>, which always
    /// forbids later keys (the blocks rely on that), or null for plain causal attention.
    /// </param>
    /// <param name="causal">With a null mask: the attention is causal.</param>
    /// <param name="dropout">Attention dropout probability (only 0 is served).</param>
    public static Tensor? TryForward(Tensor query, Tensor keys, Tensor values, Tensor? mask, bool causal, double dropout)
    {
        if (Disabled || dropout != 0.0 || (mask is null && !causal))
        {
            return null;
        }

        var (batch, heads, length, dim) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3]);
        var kv = keys.shape[1];
        if (length < 2 || length > MaxSequence || keys.shape[2] != length || values.shape[2] != length || heads % kv != 0)
        {
            return null;
        }

        if (query.dtype != ScalarType.Float32 || keys.dtype != ScalarType.Float32 || values.dtype != ScalarType.Float32 ||
            (mask is not null && (mask.dtype != ScalarType.Float32 || mask.dim() != 4 || mask.shape[2] != length || mask.shape[3] != length)))
        {
            return null;
        }

        using var scope = NewDisposeScope();
        var group = heads / kv;
        var scale = (float)(1.0 / Math.Sqrt(dim));

        // Rows ordered (position, head within the group): a block of positions is a contiguous row range.
        var rows = query.reshape(batch, kv, group, length, dim).transpose(2, 3).reshape(batch * kv, length * group, dim);
        var k = keys.reshape(batch * kv, length, dim);
        var v = values.reshape(batch * kv, length, dim);
        var causalBias = mask is null ? CausalBias(length, group, query.device) : null;
        var outputs = new List<Tensor>();
        for (long start = 0; start < length; start += BlockPositions)
        {
            var end = Math.Min(start + BlockPositions, length);
            var positions = end - start;
            var bias = causalBias is not null
                ? causalBias.narrow(0, start * group, positions * group).narrow(1, 0, end)
                : MaskBias(mask!, batch, kv, group, start, end);

            // TorchSharp's Tensor.baddbmm is batch1.baddbmm(batch2, input): scores = bias + scale·Q·Kᵀ.
            var scores = rows.narrow(1, start * group, positions * group)
                .baddbmm(k.narrow(1, 0, end).transpose(1, 2), bias, 1f, scale);
            var context = bmm(scores.softmax(-1), v.narrow(1, 0, end));
            outputs.Add(context.view(batch, kv, positions, group, dim).transpose(1, 2));
        }

        var output = cat(outputs, 1).reshape(batch, length, heads * dim);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The causal bias of every query row over every key, shared by all sequences: <c>(length·group, length)</c>,
    /// rows ordered (position, head), −∞ where the key comes after the query's position. A block reads its rows
    /// and keys through views.
    /// </summary>
    private static Tensor CausalBias(long length, long group, Device device)
    {
        var later = arange(length, device: device).view(1, 1, length).gt(arange(length, device: device).view(length, 1, 1));
        return zeros(length, group, length, device: device)
            .masked_fill_(later, float.NegativeInfinity)
            .view(length * group, length);
    }

    /// <summary>
    /// The decoder mask's bias for the queries at positions [<paramref name="start"/>, <paramref name="end"/>) over
    /// keys [0, <paramref name="end"/>): <c>(batch·kv, (end−start)·group, end)</c>. Built per block, so the largest
    /// copy is one block's and not the whole sequence's.
    /// </summary>
    private static Tensor MaskBias(Tensor mask, long batch, long kv, long group, long start, long end)
    {
        var positions = end - start;
        var rowsOfMask = mask.narrow(2, start, positions).narrow(3, 0, end);
        return rowsOfMask.unsqueeze(3)
            .expand(batch, kv, positions, group, end)
            .reshape(batch * kv, positions * group, end);
    }
}
