using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// The rank-recovery oracle's student module: a frozen linear layer plus a dense, full-rank trainable
/// update in whitened input coordinates, <c>y = W·x + g·M·(P·x)</c> with <c>P = C^-½</c> (pseudo-inverse;
/// directions of <c>C</c> below 1e-6 of its largest eigenvalue are left out) and <c>g</c> the RMS
/// singular value of the base map on the inputs, <c>W·C^½</c>. The update's effect on the inputs is
/// <c>g·M·P·C^½ = g·M</c> on the kept subspace, so the optimizer's per-coordinate steps are isotropic
/// in the effect the data can see (in raw coordinates Adam's noise is amplified along the inputs'
/// outlier directions) and of one size relative to each module's own map (Adam's steps have a fixed
/// size, so without <c>g</c> a module whose map is large learns its update many times more slowly
/// than one whose map is small). The learned update in weight space is <see cref="Delta"/> = <c>g·M·P</c>.
/// </summary>
public sealed class WhitenedDenseDelta : nn.Module<Tensor, Tensor>
{
    private readonly Linear inner;
    private readonly Parameter effect;
    private readonly Tensor _whiten;
    private readonly double _gain;

    /// <summary>Wraps <paramref name="linear"/> (left frozen) with a zero update; <paramref name="inputRoot"/> is <c>C^½</c> (in × in, symmetric).</summary>
    public WhitenedDenseDelta(Linear linear, Tensor inputRoot) : base(nameof(WhitenedDenseDelta))
    {
        ArgumentNullException.ThrowIfNull(linear);
        ArgumentNullException.ThrowIfNull(inputRoot);
        inner = linear;
        var weight = linear.weight!;
        effect = nn.Parameter(zeros(weight.shape[0], weight.shape[1]));
        using (var scope = NewDisposeScope())
        {
            var (values, vectors) = linalg.eigh(inputRoot.to(ScalarType.Float64));
            var kept = values.gt(values.max() * 1e-3);
            var inverse = where(kept, values.clamp_min(1e-300).reciprocal(), zeros_like(values));
            _whiten = matmul(vectors * inverse, vectors.t()).to(ScalarType.Float32).MoveToOuterDisposeScope();
            _gain = LowRankDeltas.RmsSingularValue(matmul(weight.detach().to(ScalarType.Float64), inputRoot.to(ScalarType.Float64)));
        }

        RegisterComponents();
        foreach (var parameter in inner.parameters())
        {
            parameter.requires_grad = false;
        }
    }

    /// <summary>The trainable update in whitened coordinates.</summary>
    public Parameter Effect => effect;

    /// <summary>The learned update in weight space, <c>g·M·P</c> (out × in).</summary>
    public Tensor Delta()
    {
        using var noGrad = no_grad();
        return matmul(effect, _whiten).mul_(_gain);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return (inner.forward(input) + nn.functional.linear(matmul(input, _whiten), effect).mul_(_gain)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _whiten.Dispose();
        }

        base.Dispose(disposing);
    }
}
