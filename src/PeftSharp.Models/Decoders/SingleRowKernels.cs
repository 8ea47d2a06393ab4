using PeftSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// The small per-layer operations of a batch-1 decoding step (RMS norm, rotary embedding) computed directly on
/// CPU memory. On a few hundred values libtorch's per-call cost, several calls per operation, is most of
/// their time. Each kernel rounds as the libtorch sequence it replaces does, and serves only contiguous fp32
/// CPU tensors of at most <see cref="MaxElements"/> values with no gradient to record; otherwise it returns
/// null and the caller runs the libtorch operations.
/// </summary>
internal static unsafe class SingleRowKernels
{
    /// <summary>The most values a kernel takes: a decoding step's rows, not a prompt's.</summary>
    public const long MaxElements = 16_384;

    /// <summary><c>weight · (x · rsqrt(mean(x²) + eps))</c> over the last dimension of <paramref name="input"/>, or null.</summary>
    public static Tensor? RmsNorm(Tensor input, Tensor weight, double eps)
    {
        if (!Serves(input) || !Serves(weight))
        {
            return null;
        }

        var (count, size) = (input.numel(), weight.numel());
        var shape = input.shape;
        if (shape.Length == 0 || shape[^1] != size || weight.dim() != 1)
        {
            return null;
        }

        var output = empty(shape, dtype: ScalarType.Float32);
        var x = (float*)TensorData.Of(input);
        var w = (float*)TensorData.Of(weight);
        var y = (float*)TensorData.Of(output);
        var width = (int)size;
        for (long row = 0; row < count / size; row++)
        {
            var source = x + (row * width);
            var target = y + (row * width);
            var sum = 0f;
            for (var i = 0; i < width; i++)
            {
                sum += source[i] * source[i];
            }

            var scale = 1f / MathF.Sqrt((sum / width) + (float)eps);
            for (var i = 0; i < width; i++)
            {
                target[i] = w[i] * (source[i] * scale);
            }
        }

        return output;
    }

    /// <summary>
    /// The rotary embedding of one position's heads: <paramref name="input"/> <c>(1, 1, heads, dim)</c> to
    /// <c>(1, heads, 1, dim)</c>, <c>x·cos + rotate_half(x)·signedSin</c> on the first <paramref name="rotaryDim"/>
    /// features (cos and the signed sin <c>(1, 1, 1, rotaryDim)</c>), the rest unchanged; or null.
    /// </summary>
    public static Tensor? Rotary(Tensor input, Tensor cos, Tensor signedSin, int rotaryDim)
    {
        if (!Serves(input) || !Serves(cos) || !Serves(signedSin) || cos.numel() != rotaryDim || signedSin.numel() != rotaryDim)
        {
            return null;
        }

        var shape = input.shape;
        if (shape.Length != 4 || shape[0] != 1 || shape[1] != 1 || shape[3] < rotaryDim || rotaryDim % 2 != 0)
        {
            return null;
        }

        var (heads, dim, half) = ((int)shape[2], (int)shape[3], rotaryDim / 2);
        var output = empty([1, heads, 1, dim], dtype: ScalarType.Float32);
        var x = (float*)TensorData.Of(input);
        var c = (float*)TensorData.Of(cos);
        var s = (float*)TensorData.Of(signedSin);
        var y = (float*)TensorData.Of(output);
        for (var head = 0; head < heads; head++)
        {
            var source = x + (head * dim);
            var target = y + (head * dim);
            for (var i = 0; i < rotaryDim; i++)
            {
                target[i] = (source[i] * c[i]) + (source[(i + half) % rotaryDim] * s[i]);
            }

            for (var i = rotaryDim; i < dim; i++)
            {
                target[i] = source[i];
            }
        }

        return output;
    }

    private static bool Serves(Tensor tensor) =>
        TensorData.Available && tensor.dtype == ScalarType.Float32 && tensor.device_type == DeviceType.CPU && tensor.numel() <= MaxElements &&
        (!is_grad_enabled() || !tensor.requires_grad) && tensor.is_contiguous();
}
