using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using PeftSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Scaled dot-product attention of one query position against every cached key of one sequence, computed
/// directly on CPU memory: <c>softmax(q·kᵀ/√d)·v</c> per query head, query heads sharing their key-value
/// head (GQA) in place. A batch-1 decoding step attends once per layer with a few kilobytes of data, where
/// libtorch's per-call setup costs more than the arithmetic. Anything else — a mask, dropout, more than
/// one sequence or query, another dtype or device, a gradient to record — is left to libtorch.
/// </summary>
internal static unsafe class SingleQueryAttention
{
    /// <summary>
    /// The context <c>(1, heads, 1, dim)</c> for query <paramref name="query"/> <c>(1, heads, 1, dim)</c> over
    /// <paramref name="keys"/> and <paramref name="values"/> <c>(1, kvHeads, length, dim)</c> (rows contiguous,
    /// heads at any stride, as the KV cache's views are), or null when the call is not one this serves.
    /// </summary>
    public static Tensor? TryForward(Tensor query, Tensor keys, Tensor values, Tensor? mask, double dropout)
    {
        if (mask is not null || dropout != 0.0 || !TensorData.Available || !RowGemv.IsSupported)
        {
            return null;
        }

        if (query.dtype != ScalarType.Float32 || keys.dtype != ScalarType.Float32 || values.dtype != ScalarType.Float32 ||
            query.device_type != DeviceType.CPU || keys.device_type != DeviceType.CPU || values.device_type != DeviceType.CPU)
        {
            return null;
        }

        if (is_grad_enabled() && (query.requires_grad || keys.requires_grad || values.requires_grad))
        {
            return null;
        }

        var (queryShape, keyShape, valueShape) = (query.shape, keys.shape, values.shape);
        if (queryShape.Length != 4 || keyShape.Length != 4 || !keyShape.SequenceEqual(valueShape) || queryShape[0] != 1 || keyShape[0] != 1 ||
            queryShape[2] != 1 || queryShape[3] != keyShape[3] || keyShape[1] == 0 || queryShape[1] % keyShape[1] != 0 || keyShape[2] == 0 || !query.is_contiguous())
        {
            return null;
        }

        var (keyStrides, valueStrides) = (keys.stride(), values.stride());
        var (heads, kvHeads, length, dim) = ((int)queryShape[1], (int)keyShape[1], (int)keyShape[2], (int)keyShape[3]);
        if (keyStrides[3] != 1 || keyStrides[2] != dim || valueStrides[3] != 1 || valueStrides[2] != dim)
        {
            return null;
        }

        var context = empty(queryShape, dtype: ScalarType.Float32);
        var scores = ArrayPool<float>.Shared.Rent(length);
        try
        {
            fixed (float* weights = scores)
            {
                Attend((float*)TensorData.Of(query), (float*)TensorData.Of(keys), (float*)TensorData.Of(values), (float*)TensorData.Of(context),
                    weights, heads, kvHeads, length, dim, keyStrides[1], valueStrides[1]);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scores);
        }

        return context;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Attend(float* query, float* keys, float* values, float* context, float* weights,
        int heads, int kvHeads, int length, int dim, long keyHeadStride, long valueHeadStride)
    {
        var scale = 1f / MathF.Sqrt(dim);
        var group = heads / kvHeads;
        for (var head = 0; head < heads; head++)
        {
            var q = query + ((long)head * dim);
            var k = keys + (head / group * keyHeadStride);
            var v = values + (head / group * valueHeadStride);
            // The scores q·k_t are one row through the head's (length, dim) keys: the row kernel's product.
            RowGemv.Float32(k, q, null, weights, dim, 0, length);
            var max = float.NegativeInfinity;
            for (var t = 0; t < length; t++)
            {
                weights[t] *= scale;
                max = MathF.Max(max, weights[t]);
            }

            var sum = 0f;
            for (var t = 0; t < length; t++)
            {
                var weight = MathF.Exp(weights[t] - max);
                weights[t] = weight;
                sum += weight;
            }

            var output = context + ((long)head * dim);
            new Span<float>(output, dim).Clear();
            var inverse = 1f / sum;
            for (var t = 0; t < length; t++)
            {
                AddScaled(output, v + ((long)t * dim), weights[t] * inverse, dim);
            }
        }
    }

    private static void AddScaled(float* target, float* source, float factor, int count)
    {
        var scale = Vector256.Create(factor);
        var i = 0;
        for (; i + 8 <= count; i += 8)
        {
            Vector256.FusedMultiplyAdd(Vector256.Load(source + i), scale, Vector256.Load(target + i)).Store(target + i);
        }

        for (; i < count; i++)
        {
            target[i] += source[i] * factor;
        }
    }
}
