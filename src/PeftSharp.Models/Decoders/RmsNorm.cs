using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>RMSNorm as transformers computes it: <c>weight · (x · rsqrt(mean(x²) + ε))</c>, the normalisation in fp32 and cast back before the weight.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    /// <summary>Creates the norm over the last dimension of width <paramref name="size"/>, weights of ones in <paramref name="dtype"/>.</summary>
    public RmsNorm(long size, double eps, ScalarType dtype) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(size, dtype: dtype));
        _eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // In evaluation (a decoding step) a few rows skip libtorch's per-call cost; training keeps one code path
        // so a checkpointed layer's recomputation rounds as its first pass did.
        if (!training && SingleRowKernels.RmsNorm(input, weight, _eps) is { } row)
        {
            return row;
        }

        using var scope = NewDisposeScope();
        var wide = input.dtype == ScalarType.Float32;
        var x = wide ? input : input.to(ScalarType.Float32);
        var normed = x * x.square().mean([-1L], keepdim: true).add_(_eps).rsqrt_();
        return (weight * (wide ? normed : normed.to(input.dtype))).MoveToOuterDisposeScope();
    }
}
