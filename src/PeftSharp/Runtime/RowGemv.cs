using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PeftSharp.Runtime;

/// <summary>
/// Matrix-vector kernels for one row through a row-major weight: <c>y[n] = Σ_k W[n, k]·x[k] (+ b[n])</c>
/// for the rows <c>[start, end)</c>, accumulating in fp32 with 256-bit vectors. Each thread streams its rows
/// one after another, a single sequential stream the hardware prefetcher follows (interleaving four rows
/// measured 10–15 % slower), with four independent accumulators per row. A batch-1 decoding step's matmuls
/// are bound by memory bandwidth, not arithmetic.
/// </summary>
internal static unsafe class RowGemv
{
    /// <summary>True where these kernels run vectorised (AVX2 on x64); elsewhere callers keep libtorch's matmul.</summary>
    public static bool IsSupported => Vector256.IsHardwareAccelerated;

    /// <summary>Rows <c>[start, end)</c> of an fp32 weight <paramref name="weight"/> (<c>k</c> columns) applied to fp32 <paramref name="x"/>; <paramref name="bias"/> fp32 or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Float32(float* weight, float* x, float* bias, float* y, int k, int start, int end)
    {
        for (var n = start; n < end; n++)
        {
            var row = weight + ((long)n * k);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            var j = 0;
            for (; j + 32 <= k; j += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(row + j), Vector256.Load(x + j), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(row + j + 8), Vector256.Load(x + j + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(row + j + 16), Vector256.Load(x + j + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(row + j + 24), Vector256.Load(x + j + 24), a3);
            }

            for (; j + 8 <= k; j += 8)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(row + j), Vector256.Load(x + j), a0);
            }

            var sum = Vector256.Sum((a0 + a1) + (a2 + a3));
            for (; j < k; j++)
            {
                sum += row[j] * x[j];
            }

            y[n] = bias is null ? sum : sum + bias[n];
        }
    }

    /// <summary>As <see cref="Float32"/> for a bf16 weight (and bf16 <paramref name="bias"/>): each weight element widens to fp32 exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BFloat16(ushort* weight, float* x, ushort* bias, float* y, int k, int start, int end)
    {
        for (var n = start; n < end; n++)
        {
            var row = weight + ((long)n * k);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            var j = 0;
            for (; j + 32 <= k; j += 32)
            {
                var (w0, w1) = Widen(Vector256.Load(row + j));
                var (w2, w3) = Widen(Vector256.Load(row + j + 16));
                a0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x + j), a0);
                a1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x + j + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(w2, Vector256.Load(x + j + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(w3, Vector256.Load(x + j + 24), a3);
            }

            var sum = Vector256.Sum((a0 + a1) + (a2 + a3));
            for (; j < k; j++)
            {
                sum += Widen(row[j]) * x[j];
            }

            y[n] = bias is null ? sum : sum + Widen(bias[n]);
        }
    }

    /// <summary>The fp32 value of a bf16 bit pattern (exact: bf16 is fp32's upper half).</summary>
    public static float Widen(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    /// <summary>The bf16 bit pattern nearest to <paramref name="value"/> (ties to even; NaN stays NaN), as libtorch rounds.</summary>
    public static ushort Narrow(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    private static (Vector256<float> Low, Vector256<float> High) Widen(Vector256<ushort> values)
    {
        var (lower, upper) = Vector256.Widen(values);
        return (Vector256.ShiftLeft(lower, 16).AsSingle(), Vector256.ShiftLeft(upper, 16).AsSingle());
    }
}
