using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PeftSharp.Runtime;

/// <summary>
/// Matrix-vector kernels for one row through a row-major weight: <c>y[n] = Σ_k W[n, k]·x[k] (+ b[n])</c>
/// for the rows <c>[start, end)</c>, accumulating in fp32 with 256-bit vectors, four weight rows per pass
/// so every load of <c>x</c> serves four rows. The weight is streamed once, in order, which is all a
/// batch-1 decoding step's matmuls need: they are bound by memory bandwidth, not arithmetic.
/// </summary>
internal static unsafe class RowGemv
{
    /// <summary>True where these kernels run vectorised (AVX2 on x64); elsewhere callers keep libtorch's matmul.</summary>
    public static bool IsSupported => Vector256.IsHardwareAccelerated;

    /// <summary>Rows <c>[start, end)</c> of an fp32 weight <paramref name="weight"/> (<c>k</c> columns) applied to fp32 <paramref name="x"/>; <paramref name="bias"/> fp32 or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Float32(float* weight, float* x, float* bias, float* y, int k, int start, int end)
    {
        var n = start;
        for (; n + 4 <= end; n += 4)
        {
            float* r0 = weight + ((long)n * k), r1 = r0 + k, r2 = r1 + k, r3 = r2 + k;
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            var j = 0;
            for (; j + 8 <= k; j += 8)
            {
                var xv = Vector256.Load(x + j);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(r0 + j), xv, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(r1 + j), xv, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(r2 + j), xv, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(r3 + j), xv, a3);
            }

            float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
            for (; j < k; j++)
            {
                s0 += r0[j] * x[j];
                s1 += r1[j] * x[j];
                s2 += r2[j] * x[j];
                s3 += r3[j] * x[j];
            }

            Store(y, bias, n, s0, s1, s2, s3);
        }

        for (; n < end; n++)
        {
            var row = weight + ((long)n * k);
            var sum = 0f;
            for (var j = 0; j < k; j++)
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
        var n = start;
        for (; n + 4 <= end; n += 4)
        {
            ushort* r0 = weight + ((long)n * k), r1 = r0 + k, r2 = r1 + k, r3 = r2 + k;
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            var j = 0;
            for (; j + 16 <= k; j += 16)
            {
                var low = Vector256.Load(x + j);
                var high = Vector256.Load(x + j + 8);
                a0 = Accumulate(r0 + j, low, high, a0);
                a1 = Accumulate(r1 + j, low, high, a1);
                a2 = Accumulate(r2 + j, low, high, a2);
                a3 = Accumulate(r3 + j, low, high, a3);
            }

            float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
            for (; j < k; j++)
            {
                s0 += Widen(r0[j]) * x[j];
                s1 += Widen(r1[j]) * x[j];
                s2 += Widen(r2[j]) * x[j];
                s3 += Widen(r3[j]) * x[j];
            }

            if (bias is null)
            {
                Store(y, null, n, s0, s1, s2, s3);
            }
            else
            {
                Store(y, null, n, s0 + Widen(bias[n]), s1 + Widen(bias[n + 1]), s2 + Widen(bias[n + 2]), s3 + Widen(bias[n + 3]));
            }
        }

        for (; n < end; n++)
        {
            var row = weight + ((long)n * k);
            var sum = 0f;
            for (var j = 0; j < k; j++)
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

    private static Vector256<float> Accumulate(ushort* row, Vector256<float> low, Vector256<float> high, Vector256<float> sum)
    {
        var (lower, upper) = Vector256.Widen(Vector256.Load(row));
        sum = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(lower, 16).AsSingle(), low, sum);
        return Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(upper, 16).AsSingle(), high, sum);
    }

    private static void Store(float* y, float* bias, int n, float s0, float s1, float s2, float s3)
    {
        if (bias is not null)
        {
            (s0, s1, s2, s3) = (s0 + bias[n], s1 + bias[n + 1], s2 + bias[n + 2], s3 + bias[n + 3]);
        }

        (y[n], y[n + 1], y[n + 2], y[n + 3]) = (s0, s1, s2, s3);
    }
}
