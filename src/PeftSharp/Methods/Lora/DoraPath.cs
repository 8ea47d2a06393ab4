using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Lora;

/// <summary>
/// DoRA (Liu et al., 2024; PEFT's <c>use_dora</c>): the adapted weight is the LoRA-updated weight with
/// each output row rescaled to a trained magnitude, <c>W' = (m / ‖W + s·B·A‖_row) · (W + s·B·A)</c>.
/// As PEFT computes it, the forward adds <c>(m/‖·‖ − 1) · (x·Wᵀ) + (m/‖·‖) · s·B·A·x</c> to the
/// frozen output (bias unchanged), with the row norm detached from the graph; <c>m</c> starts at
/// <c>‖W + s·B·A‖_row</c>, so a fresh adapter is the identity. Merging is exact: the norm used by a
/// merge is kept until the matching unmerge.
/// </summary>
public sealed class DoraPath : LowRankPath
{
    private readonly Parameter lora_A;
    private readonly Parameter lora_B;
    private readonly Parameter lora_magnitude_vector;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;
    private readonly LinearTarget _target;
    private Tensor? _mergedNorm;

    /// <summary>Creates a rank-<paramref name="rank"/> DoRA path on <paramref name="target"/>, the layer it adapts.</summary>
    public DoraPath(LinearTarget target, int rank, double alpha, double dropout = 0, bool useRslora = false, LoraInit init = LoraInit.Default, Generator? generator = null)
        : base(nameof(DoraPath), target.InFeatures, target.OutFeatures)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        _target = target;
        Rank = rank;
        Alpha = alpha;
        Scaling = useRslora ? alpha / Math.Sqrt(rank) : alpha / rank;

        // The factors start exactly as LoRA's do; the magnitude is the row norm of the resulting weight.
        using (var factors = new LoraPath(target.InFeatures, target.OutFeatures, rank, alpha, 0, useRslora, init, generator))
        using (no_grad())
        {
            lora_A = nn.Parameter(factors.A.detach().clone());
            lora_B = nn.Parameter(factors.B.detach().clone());
        }

        using (no_grad())
        using (NewDisposeScope())
        {
            lora_magnitude_vector = nn.Parameter(RowNorm(BaseWeight().to(ScalarType.Float32) + LoraWeight()).DetachFromDisposeScope());
        }

        if (dropout > 0)
        {
            lora_dropout = nn.Dropout(dropout);
        }

        RegisterComponents();
    }

    /// <inheritdoc />
    public override int Rank { get; }

    /// <summary>The scaling numerator.</summary>
    public double Alpha { get; }

    /// <inheritdoc />
    public override double Scaling { get; }

    /// <summary>Down projection <c>(r, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>Up projection <c>(out, r)</c>.</summary>
    public Parameter B => lora_B;

    /// <summary>The trained magnitude of each output row, <c>(out)</c>.</summary>
    public Parameter Magnitude => lora_magnitude_vector;

    /// <inheritdoc />
    public override bool NeedsBaseOutput => true;

    /// <inheritdoc />
    public override string PlainLoraExportProblem =>
        "DoRA is not a plain LoRA: its magnitude vector rescales every row of the base weight, which no B·A can express; " +
        "merge it into the base model instead (peft merge / MergeAndUnload), or save it as a PEFT LoRA with use_dora (SavePretrained)";

    /// <summary>The base weight as an <c>(out, in)</c> view.</summary>
    private Tensor BaseWeight() => _target.FanInFanOut ? _target.Weight.t() : _target.Weight;

    /// <summary><c>s · B · A</c> in float32, <c>(out, in)</c>.</summary>
    private Tensor LoraWeight() => matmul(lora_B.to(ScalarType.Float32), lora_A.to(ScalarType.Float32)).mul_(Scaling);

    private static Tensor RowNorm(Tensor weight) => linalg.vector_norm(weight, 2, [1L], keepdim: false);

    /// <summary><c>m / ‖W + s·B·A‖_row</c>, the norm detached (PEFT), as a float32 <c>(out)</c> vector.</summary>
    private Tensor MagnitudeScale()
    {
        Tensor norm;
        using (no_grad())
        {
            // ‖W_i + s·(B·A)_i‖² = ‖W_i‖² + 2s·Σ_k (W·Aᵀ)_ik·B_ik + s²·Σ_k (B·A·Aᵀ)_ik·B_ik: two reads of W (its
            // row norms and the thin W·Aᵀ) instead of writing W + s·B·A and reading it back.
            var weight = BaseWeight().to(ScalarType.Float32);
            var a = lora_A.to(ScalarType.Float32);
            var b = lora_B.to(ScalarType.Float32);
            var cross = matmul(weight, a.t()).mul_(b).sum(1);
            var lowRank = matmul(b, matmul(a, a.t())).mul_(b).sum(1);
            norm = RowNorm(weight).pow_(2).add_(cross, alpha: 2 * Scaling).add_(lowRank, alpha: Scaling * Scaling).clamp_min_(0).sqrt_();
        }

        return lora_magnitude_vector.to(ScalarType.Float32) / norm;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var baseOutput = nn.functional.linear(input, BaseWeight(), _target.Bias);
        return AddDelta(zeros_like(baseOutput), input, baseOutput).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor AddDelta(Tensor baseOutput, Tensor input) => AddDelta(baseOutput, input, baseOutput);

    /// <inheritdoc />
    public override Tensor AddDelta(Tensor output, Tensor input, Tensor baseOutput)
    {
        using var scope = NewDisposeScope();
        var scale = MagnitudeScale();
        Tensor withoutBias;
        var x = input;
        if (lora_dropout is not null && training)
        {
            // With dropout active the frozen product is recomputed on the dropped-out input, as PEFT does.
            x = lora_dropout.forward(input);
            withoutBias = nn.functional.linear(x, BaseWeight().to(x.dtype));
        }
        else
        {
            withoutBias = _target.Bias is null ? baseOutput : baseOutput - _target.Bias;
        }

        var xa = x.dtype == lora_A.dtype ? x : x.to(lora_A.dtype);

        // s·B·A·x with s folded into the small B.
        var lora = matmul(matmul(xa, lora_A.t()), (lora_B * Scaling).t());
        if (ReferenceEquals(withoutBias, output))
        {
            // No bias and no dropout, and the output is the frozen product itself (the usual case):
            // output + (scale − 1)·output + scale·lora = scale · (output + lora), two passes over the
            // activations instead of four, and one tensor kept for the magnitude's gradient. Out of
            // place: the frozen product may be needed unchanged by the backward of what produced it.
            return (lora.add_(output) * scale).to(output.dtype).MoveToOuterDisposeScope();
        }

        var delta = (scale - 1) * withoutBias.to(ScalarType.Float32) + scale * lora.to(ScalarType.Float32);
        return output.add_(delta.to(output.dtype)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var weight = BaseWeight().to(ScalarType.Float32);
        var updated = weight + LoraWeight();
        var merged = updated * (lora_magnitude_vector.to(ScalarType.Float32) / RowNorm(updated)).unsqueeze(1);
        return (merged - weight).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override void MergeInto(Tensor weight)
    {
        if (_mergedNorm is not null)
        {
            throw new InvalidOperationException("this DoRA path is already merged");
        }

        using var scope = NewDisposeScope();
        var updated = weight.to(ScalarType.Float32) + LoraWeight();
        var norm = RowNorm(updated);
        weight.copy_((updated * (lora_magnitude_vector.to(ScalarType.Float32) / norm).unsqueeze(1)).to(weight.dtype));
        _mergedNorm = norm.DetachFromDisposeScope();
    }

    /// <inheritdoc />
    public override void UnmergeFrom(Tensor weight)
    {
        var norm = _mergedNorm ?? throw new InvalidOperationException("this DoRA path is not merged");
        using (NewDisposeScope())
        {
            var factor = (lora_magnitude_vector.to(ScalarType.Float32) / norm).unsqueeze(1);
            weight.copy_((weight.to(ScalarType.Float32) / factor - LoraWeight()).to(weight.dtype));
        }

        norm.Dispose();
        _mergedNorm = null;
    }

    /// <inheritdoc />
    public override PlainLoraFactors ToPlainLora() => throw new NotPlainLoraException(PlainLoraExportProblem);

    /// <inheritdoc />
    public override PlainLoraFactors ToPlainLora(int maxRank) => ToPlainLora();

    /// <inheritdoc />
    public override double[] ComponentImportance() => throw new NotPlainLoraException(PlainLoraExportProblem);

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() =>
    [
        new("lora_A.weight", lora_A),
        new("lora_B.weight", lora_B),
        new("lora_magnitude_vector", lora_magnitude_vector),
    ];

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _mergedNorm?.Dispose();
            _mergedNorm = null;
        }

        base.Dispose(disposing);
    }
}
