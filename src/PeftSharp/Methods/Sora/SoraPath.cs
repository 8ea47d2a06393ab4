using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sora;

/// <summary>
/// SoRA's gated path: <c>s · ((dropout(x) · Aᵀ) ⊙ g) · Bᵀ</c> with <c>A (r_max, in)</c>, gate
/// <c>g (1, r_max)</c>, <c>B (out, r_max)</c> and <c>s = alpha / r_max</c>, fixed for the path's life
/// (pruning never re-derives it). A Kaiming-uniform, B zero, g ~ N(0, 1): ΔW = 0 at start.
/// </summary>
public sealed class SoraPath : FactoredLowRankPath
{
    /// <summary>The parameter group of the gates (updated by the gate optimizer, not the trainer's).</summary>
    public const string GateGroup = "gate";

    private readonly Parameter lora_A;
    private readonly Parameter lora_gate;
    private readonly Parameter lora_B;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;
    private int? _nonZero;

    /// <summary>Creates a path of <paramref name="rank"/> (r_max) gated components.</summary>
    public SoraPath(int inFeatures, int outFeatures, int rank, double alpha, double dropout = 0, Generator? generator = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(SoraPath), inFeatures, outFeatures)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        Rank = rank;
        Alpha = alpha;
        Scaling = alpha / rank;
        lora_A = nn.Parameter(empty(rank, inFeatures, dtype: dtype));
        lora_gate = nn.Parameter(empty(1, rank, dtype: dtype));
        lora_B = nn.Parameter(zeros(outFeatures, rank, dtype: dtype));
        using (no_grad())
        {
            var bound = 1.0 / Math.Sqrt(inFeatures);
            nn.init.uniform_(lora_A, -bound, bound, generator);
            nn.init.normal_(lora_gate, 0, 1, generator);
        }

        if (dropout > 0)
        {
            lora_dropout = nn.Dropout(dropout);
        }

        RegisterComponents();
    }

    /// <inheritdoc />
    public override int Rank { get; }

    /// <summary>The number of non-zero gates (refreshed by the gate optimizer after each step).</summary>
    public override int EffectiveRank => _nonZero ??= (int)lora_gate.count_nonzero().item<long>();

    /// <summary>The scaling numerator.</summary>
    public double Alpha { get; }

    /// <inheritdoc />
    public override double Scaling { get; }

    /// <summary>Down projection <c>(r_max, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>The gate <c>(1, r_max)</c>; exact zeros switch components off.</summary>
    public Parameter Gate => lora_gate;

    /// <summary>Up projection <c>(out, r_max)</c>.</summary>
    public Parameter B => lora_B;

    /// <summary>Records the non-zero gate count after the gates changed (null: count again on demand).</summary>
    public void SetNonZeroCount(int? count) => _nonZero = count;

    /// <inheritdoc />
    public override string ParameterGroupOf(Parameter parameter) => ReferenceEquals(parameter, lora_gate) ? GateGroup : "adapter";

    /// <summary><c>s · (dropout(x) · Aᵀ) ⊙ g</c>: the gated rank-r activations (scaling folded into the gate product).</summary>
    protected override Tensor DownProjection(Tensor input)
    {
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != lora_A.dtype)
        {
            x = x.to(lora_A.dtype);
        }

        return matmul(x, lora_A.t()).mul_(lora_gate * Scaling);
    }

    /// <inheritdoc />
    protected override Tensor UpProjection() => lora_B;

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var b = lora_B.to(ScalarType.Float32) * lora_gate.to(ScalarType.Float32);
        return matmul(b, lora_A.to(ScalarType.Float32)).mul_(Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>Drops zero gates and folds the rest into B: <c>A' = A[idx]</c>, <c>B' = B[:, idx] · diag(g[idx])</c>, scaling unchanged.</summary>
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var live = lora_gate.squeeze(0).ne(0).nonzero().squeeze(1);
        var a = lora_A.index_select(0, live);
        var b = lora_B.index_select(1, live) * lora_gate.index_select(1, live);
        return new PlainLoraFactors(a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), Scaling);
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() =>
    [
        new("lora_A.weight", lora_A),
        new("lora_gate", lora_gate),
        new("lora_B.weight", lora_B),
    ];
}
