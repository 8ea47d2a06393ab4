using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>Rotary position embeddings in the rotate-half convention (halves, not interleaved pairs).</summary>
internal sealed class RotaryEmbedding
{
    private readonly RopeSettings _settings;
    private readonly int _rotaryDim;
    private readonly double[] _inverseFrequencies;

    public RotaryEmbedding(RopeSettings settings, int rotaryDim)
    {
        _settings = settings;
        _rotaryDim = rotaryDim;
        _inverseFrequencies = settings.InverseFrequencies(rotaryDim, 0);
    }

    /// <summary>
    /// cos and sin <c>(batch, 1, T, rotaryDim)</c> in <paramref name="dtype"/> for <paramref name="positionIds"/> <c>(batch, T)</c>;
    /// angles in float64, the result rounded through fp32 as transformers does. The sine's first half is
    /// negated (the sign of rotate_half), the form <see cref="Apply"/> takes.
    /// </summary>
    public (Tensor Cos, Tensor Sin) Compute(Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var frequencies = _inverseFrequencies;
        if (_settings.Kind == RopeKind.Dynamic)
        {
            frequencies = _settings.InverseFrequencies(_rotaryDim, positionIds.max().item<long>() + 1);
        }

        var inverse = tensor(frequencies, dtype: ScalarType.Float64, device: positionIds.device);
        var angles = positionIds.to(ScalarType.Float64).unsqueeze(-1) * inverse;
        var cos = cat([angles, angles], -1).unsqueeze(1).cos().to(ScalarType.Float32).to(dtype);
        var sines = angles.sin();
        var sin = cat([-sines, sines], -1).unsqueeze(1).to(ScalarType.Float32).to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Rotates the first <c>rotaryDim</c> features of <paramref name="x"/> <c>(batch, heads, T, head_dim)</c>:
    /// <c>x·cos + rotate_half(x)·sin</c>, computed as <c>x·cos + roll(x, half)·signedSin</c> with
    /// <paramref name="signedSin"/> from <see cref="Compute"/> (the same products, in fewer operations).
    /// <paramref name="evaluating"/> (not training): one position of one sequence takes the single-row kernel.
    /// </summary>
    public Tensor Apply(Tensor x, Tensor cos, Tensor signedSin, bool evaluating = false)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (evaluating && x.shape is [1, _, 1, _] && SingleRowKernels.Rotary(x.transpose(1, 2), cos, signedSin, _rotaryDim) is { } row)
        {
            return row;
        }

        using var scope = NewDisposeScope();
        var width = x.shape[^1];
        var rotary = _rotaryDim < width ? x.narrow(-1, 0, _rotaryDim) : x;
        var result = (rotary * cos).add_(rotary.roll(_rotaryDim / 2, -1).mul_(signedSin));
        if (_rotaryDim < width)
        {
            result = cat([result, x.narrow(-1, _rotaryDim, width - _rotaryDim)], -1);
        }

        return result.MoveToOuterDisposeScope();
    }
}
