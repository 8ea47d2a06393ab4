using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>Shared attention arithmetic for the model families.</summary>
internal static class Attention
{
    /// <summary>Throws a clear error for token ids outside <c>[0, vocabularySize)</c> (libtorch would fail with an untyped index error).</summary>
    public static void CheckTokenIds(Tensor inputIds, int vocabularySize)
    {
        if (inputIds.numel() == 0)
        {
            return;
        }

        var (min, max) = (inputIds.min().item<long>(), inputIds.max().item<long>());
        if (min < 0 || max >= vocabularySize)
        {
            throw new ArgumentException($"token ids must lie in [0, {vocabularySize}); got {min}…{max} (tokenizer and model do not match?)", nameof(inputIds));
        }
    }

    /// <summary>
    /// An additive mask <c>(batch, 1, 1 or T, T)</c>: 0 where attention is allowed, the dtype's most
    /// negative value where a key is padding (mask 0) or, when <paramref name="causal"/>, in the future.
    /// Null when nothing is masked.
    /// </summary>
    public static Tensor? AdditiveMask(Tensor? attentionMask, long length, bool causal, ScalarType dtype, Device device)
    {
        if (attentionMask is null && !causal)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        var min = dtype == ScalarType.Float64 ? double.MinValue : dtype == ScalarType.Float32 ? float.MinValue : -65504.0;
        Tensor allowed;
        if (causal)
        {
            allowed = ones(length, length, dtype: ScalarType.Bool, device: device).tril().view(1, 1, length, length);
            if (attentionMask is not null)
            {
                allowed = allowed.logical_and(attentionMask.to(ScalarType.Bool).view(attentionMask.shape[0], 1, 1, length));
            }
        }
        else
        {
            allowed = attentionMask!.to(ScalarType.Bool).view(attentionMask.shape[0], 1, 1, length);
        }

        var mask = zeros(allowed.shape, dtype: dtype, device: device).masked_fill(allowed.logical_not(), min);
        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Multi-head attention of already projected <paramref name="query"/>, <paramref name="key"/>,
    /// <paramref name="value"/> (each <c>(batch, T, heads·d)</c>); returns <c>(batch, T, heads·d)</c>.
    /// </summary>
    public static Tensor MultiHead(Tensor query, Tensor key, Tensor value, int heads, Tensor? mask, double dropout, bool training, double? scale = null)
    {
        using var scope = NewDisposeScope();
        var (batch, length, width) = (query.shape[0], query.shape[1], query.shape[2]);
        var headDim = width / heads;
        Tensor Split(Tensor t) => t.view(batch, length, heads, headDim).transpose(1, 2);
        var q = Split(query);
        if (scale is { } s && s != 1.0 / Math.Sqrt(headDim))
        {
            // SDPA scales by 1/√d; fold any other scale into the query.
            q = q * (s * Math.Sqrt(headDim));
        }

        var context = nn.functional.scaled_dot_product_attention(q, Split(key), Split(value), mask, training ? dropout : 0.0);
        return context.transpose(1, 2).reshape(batch, length, width).MoveToOuterDisposeScope();
    }
}
