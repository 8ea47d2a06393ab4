using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// A path whose increment is <c>DownProjection(x) · UpProjection()ᵀ</c> — the rank-r activations
/// (scaling and any per-component vector already applied) times an <c>(out, r)</c> up projection.
/// It supplies the forward and the fused <see cref="AddDelta"/>: the up projection accumulates into
/// the base output in place (one <c>addmm_</c>), so no full-size temporary is created.
/// </summary>
public abstract class FactoredLowRankPath : LowRankPath
{
    /// <summary>Creates the path (see <see cref="LowRankPath"/>).</summary>
    protected FactoredLowRankPath(string name, int inFeatures, int outFeatures)
        : base(name, inFeatures, outFeatures)
    {
    }

    /// <summary>The rank-r activations <c>(tokens, r)</c> for <paramref name="input"/> <c>(tokens, in)</c>, scaling included.</summary>
    protected abstract Tensor DownProjection(Tensor input);

    /// <summary>The up projection <c>(out, r)</c> (with any per-output vector folded into its rows).</summary>
    protected abstract Tensor UpProjection();

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return matmul(DownProjection(input), UpProjection().t()).MoveToOuterDisposeScope();
    }

    /// <summary>Fused form of <c>baseOutput + forward(input)</c> when the dtypes agree; the plain sum otherwise.</summary>
    public override Tensor AddDelta(Tensor baseOutput, Tensor input)
    {
        using (NewDisposeScope())
        {
            var up = UpProjection();
            if (up.dtype != baseOutput.dtype)
            {
                return base.AddDelta(baseOutput, input).MoveToOuterDisposeScope();
            }

            baseOutput.addmm_(DownProjection(input), up.t());
        }

        return baseOutput;
    }
}
