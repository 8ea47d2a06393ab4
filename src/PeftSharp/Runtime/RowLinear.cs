using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Runtime;

/// <summary>
/// A linear layer applied to a single row on the CPU, as a batch-1 decoding step applies every weight.
/// libtorch runs an fp32 matrix-vector product on one core at a fraction of the memory bandwidth; here the
/// weight is streamed by <see cref="RowGemv"/>, on the calling thread or, inside <see cref="LendThreads"/>, on
/// as many threads as libtorch had. Any other call — more than one row, a gradient to record, another device
/// or dtype, a strided tensor, a CPU without 256-bit vectors — goes to <c>nn.functional.linear</c>, so callers
/// use it wherever a frozen linear layer runs.
/// </summary>
public static unsafe class RowLinear
{
    private static readonly bool Available = RowGemv.IsSupported && TensorData.Available;

    /// <summary>Weights below this many bytes run on the calling thread alone (a fork costs more than it saves).</summary>
    private const long ParallelBytes = 256 * 1024;

    private static readonly object LoanGate = new();
    private static int _loans;
    private static int _lentThreads;

    /// <summary>
    /// Until the result is disposed, libtorch runs on one thread and the row kernel splits each weight over
    /// the threads libtorch had. A batch-1 decoding loop holds this: its other operations are too small
    /// to gain from threads, while libtorch's OpenMP workers spin for milliseconds after every parallel
    /// operation and would take the cores the kernel's threads need; the kernel's own workers stay awake for the
    /// loan (they would otherwise block between steps and wake late). Outside a loan the kernel runs on the
    /// calling thread alone. Loans nest and may overlap across threads; the last one disposed restores the
    /// thread count. libtorch's thread count is process-wide, so other work running meanwhile runs on one thread.
    /// </summary>
    public static IDisposable LendThreads()
    {
        lock (LoanGate)
        {
            if (_loans++ == 0)
            {
                _lentThreads = get_num_threads();
                if (_lentThreads > 1)
                {
                    set_num_threads(1);
                }
            }
        }

        return new ThreadLoan(RowWorkers.HoldHot());
    }

    private sealed class ThreadLoan(IDisposable hotWorkers) : IDisposable
    {
        private bool _returned;

        public void Dispose()
        {
            lock (LoanGate)
            {
                if (_returned)
                {
                    return;
                }

                _returned = true;
                hotWorkers.Dispose();
                if (--_loans == 0)
                {
                    if (_lentThreads > 1)
                    {
                        set_num_threads(_lentThreads);
                    }

                    _lentThreads = 0;
                }
            }
        }
    }

    /// <summary>
    /// <paramref name="module"/>'s output for <paramref name="input"/>: from the row kernel when the module is a
    /// plain <see cref="Linear"/> and the call is one it serves, otherwise the module's own forward.
    /// </summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> module, Tensor input)
    {
        return TryForward(module, input) ?? module.forward(input);
    }

    /// <summary><paramref name="module"/>'s output for <paramref name="input"/> from the row kernel when the module is a plain <see cref="Linear"/> and <see cref="TryForward(Tensor, Tensor, Tensor?, out Tensor?)"/> takes the call, otherwise null.</summary>
    public static Tensor? TryForward(nn.Module<Tensor, Tensor> module, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(module);
        return module is Linear { weight: { } weight } linear && TryForward(input, weight, linear.bias, out var output) ? output : null;
    }

    /// <summary><c>input · weightᵀ + bias</c>: the row kernel when <see cref="TryForward(Tensor, Tensor, Tensor?, out Tensor?)"/> takes the call, otherwise <c>nn.functional.linear</c>.</summary>
    public static Tensor Forward(Tensor input, Tensor weight, Tensor? bias = null) =>
        TryForward(input, weight, bias, out var output) ? output : nn.functional.linear(input, weight, bias);

    /// <summary>
    /// Computes <c>input · weightᵀ + bias</c> with the row kernel and returns true when the call is one it
    /// serves: <paramref name="input"/> holds one row (any leading dimensions of size 1), nothing needs a
    /// gradient (or gradients are off), every tensor is a contiguous CPU tensor, the weight is fp32 or bf16
    /// and the input and bias share its dtype. Otherwise returns false and computes nothing.
    /// The output has the input's leading shape and dtype; sums accumulate in fp32 (a bf16 output is rounded once).
    /// </summary>
    public static bool TryForward(Tensor input, Tensor weight, Tensor? bias, [NotNullWhen(true)] out Tensor? output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        output = null;
        if (!Available || Serves(input, weight, bias) is not { } shapes)
        {
            return false;
        }

        var (inputShape, rows, columns) = shapes;
        inputShape[^1] = rows;
        var result = empty(inputShape, dtype: input.dtype);
        // A bf16 row is widened to fp32 and its output summed in fp32 before rounding, in pooled buffers (the
        // head's output row is 196 KB at a 49k vocabulary: a large-object allocation every token otherwise).
        var bf16 = input.dtype == ScalarType.BFloat16;
        var x = bf16 ? ArrayPool<float>.Shared.Rent(columns) : null;
        var y = bf16 ? ArrayPool<float>.Shared.Rent(rows) : null;
        try
        {
            Compute(input, weight, bias, result, x, y, rows, columns);
        }
        finally
        {
            if (bf16)
            {
                ArrayPool<float>.Shared.Return(x!);
                ArrayPool<float>.Shared.Return(y!);
            }
        }

        output = result;
        return true;
    }

    private static void Compute(Tensor input, Tensor weight, Tensor? bias, Tensor result, float[]? x, float[]? y, int rows, int columns)
    {
        fixed (float* xWide = x, yWide = y)
        {
            var xData = x is null ? (float*)TensorData.Of(input) : Widen((ushort*)TensorData.Of(input), xWide, columns);
            var yData = y is null ? (float*)TensorData.Of(result) : yWide;
            Run(weight, bias, xData, yData, rows, columns);
            if (y is not null)
            {
                var narrow = (ushort*)TensorData.Of(result);
                for (var n = 0; n < rows; n++)
                {
                    narrow[n] = RowGemv.Narrow(yWide[n]);
                }
            }
        }
    }

    /// <summary>
    /// The input's shape and the weight's rows and columns when the row kernel serves the call, otherwise null.
    /// The row count is checked first: an adapted layer asks on every forward, and a training or prompt input
    /// (many rows) is turned away in three native calls. Each shape is read once (a read allocates).
    /// </summary>
    private static (long[] InputShape, int Rows, int Columns)? Serves(Tensor input, Tensor weight, Tensor? bias)
    {
        if (weight.dim() != 2 || input.numel() != weight.size(1))
        {
            return null;
        }

        var dtype = weight.dtype;
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || input.dtype != dtype || (bias is not null && bias.dtype != dtype))
        {
            return null;
        }

        if (is_grad_enabled() && (input.requires_grad || weight.requires_grad || bias?.requires_grad == true))
        {
            return null;
        }

        if (weight.device_type != DeviceType.CPU || input.device_type != DeviceType.CPU || (bias is not null && bias.device_type != DeviceType.CPU))
        {
            return null;
        }

        var weightShape = weight.shape;
        if (weightShape[0] > int.MaxValue || weightShape[1] > int.MaxValue)
        {
            return null;
        }

        var inputShape = input.shape;
        if (inputShape.Length == 0 || inputShape[^1] != weightShape[1] || !weight.is_contiguous() || !input.is_contiguous())
        {
            return null;
        }

        if (bias is not null && (!bias.is_contiguous() || bias.numel() != weightShape[0] || bias.dim() != 1))
        {
            return null;
        }

        return (inputShape, (int)weightShape[0], (int)weightShape[1]);
    }

    private static float* Widen(ushort* source, float* target, int count)
    {
        for (var i = 0; i < count; i++)
        {
            target[i] = RowGemv.Widen(source[i]);
        }

        return target;
    }

    private static void Run(Tensor weight, Tensor? bias, float* x, float* y, int rows, int columns)
    {
        var bf16 = weight.dtype == ScalarType.BFloat16;
        var (w, b, xs, ys) = ((nint)TensorData.Of(weight), bias is null ? 0 : (nint)TensorData.Of(bias), (nint)x, (nint)y);
        void Chunk(int chunk, int chunks)
        {
            // One contiguous chunk per thread: finer chunks cost bandwidth (each restarts the prefetcher).
            var start = (int)((long)rows * chunk / chunks);
            var end = (int)((long)rows * (chunk + 1) / chunks);
            if (bf16)
            {
                RowGemv.BFloat16((ushort*)w, (float*)xs, (ushort*)b, (float*)ys, columns, start, end);
            }
            else
            {
                RowGemv.Float32((float*)w, (float*)xs, (float*)b, (float*)ys, columns, start, end);
            }
        }

        var threads = Volatile.Read(ref _lentThreads);
        var workers = (long)rows * columns * (bf16 ? 2 : 4) >= ParallelBytes ? RowWorkers.For(Math.Min(threads, Environment.ProcessorCount)) : null;
        if (workers is null || !workers.TryRun(Chunk, workers.Threads))
        {
            Chunk(0, 1);
        }
    }
}
