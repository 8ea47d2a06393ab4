using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.DyLora;

/// <summary>
/// DyLoRA's path (Valipour et al., 2022): factors of rank r_max whose prefix of <see cref="Rank"/>
/// components is used, <c>ΔW = (alpha / b) · B[:, :b] · A[:b]</c>. In training with
/// <see cref="Frozen"/> (the official default), rows/columns before b − 1 enter through a gradient
/// stop so only component b − 1 learns.
/// </summary>
public sealed class DyLoraPath : LowRankPath
{
    private readonly Parameter lora_A;
    private readonly Parameter lora_B;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;
    private int _rank;

    /// <summary>Creates a path of maximal rank <paramref name="maxRank"/>, active at full rank.</summary>
    public DyLoraPath(int inFeatures, int outFeatures, int maxRank, double alpha, double dropout = 0, Generator? generator = null)
        : base(nameof(DyLoraPath), inFeatures, outFeatures)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        MaxRank = maxRank;
        Alpha = alpha;
        _rank = maxRank;
        lora_A = nn.Parameter(empty(maxRank, inFeatures));
        lora_B = nn.Parameter(zeros(outFeatures, maxRank));
        using (no_grad())
        {
            var bound = 1.0 / Math.Sqrt(inFeatures);
            nn.init.uniform_(lora_A, -bound, bound, generator);
        }

        if (dropout > 0)
        {
            lora_dropout = nn.Dropout(dropout);
        }

        RegisterComponents();
    }

    /// <summary>r_max.</summary>
    public int MaxRank { get; }

    /// <summary>The scaling numerator.</summary>
    public double Alpha { get; }

    /// <summary>Whether training stops the gradient of the components before the last active one.</summary>
    public bool Frozen { get; set; } = true;

    /// <inheritdoc />
    public override int Rank => _rank;

    /// <inheritdoc />
    public override double Scaling => Alpha / _rank;

    /// <summary>Down projection <c>(r_max, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>Up projection <c>(out, r_max)</c>.</summary>
    public Parameter B => lora_B;

    /// <summary>Sets the active rank b (1 ≤ b ≤ r_max). Unmerge before changing the rank of a merged adapter.</summary>
    /// <exception cref="ArgumentOutOfRangeException">b is outside 1..r_max.</exception>
    public void SetRank(int rank)
    {
        if (rank < 1 || rank > MaxRank)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), $"DyLoRA rank must be in 1..{MaxRank}, got {rank}");
        }

        _rank = rank;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != lora_A.dtype)
        {
            x = x.to(lora_A.dtype);
        }

        var (a, b) = Factors(training && Frozen);
        return matmul(matmul(x, a.t()).mul_(Scaling), b.t()).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (a, b) = Factors(frozen: false);
        return matmul(b.to(ScalarType.Float32), a.to(ScalarType.Float32)).mul_(Scaling).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        var (a, b) = Factors(frozen: false);
        return new PlainLoraFactors(a.clone(), b.clone(), Scaling);
    }

    /// <summary>DyLoRA truncates: the first k components with the scaling of rank k (alpha / k), as <see cref="SetRank"/> does.</summary>
    public override PlainLoraFactors ToPlainLora(int maxRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRank);
        using var noGrad = no_grad();
        var k = Math.Min(maxRank, _rank);
        return new PlainLoraFactors(lora_A[..k].clone(), lora_B[.., ..k].clone(), k == 0 ? 0 : Alpha / k);
    }

    /// <summary>Components count in prefix order (the same order in every module, so a budget truncates all modules alike).</summary>
    public override double[] ComponentImportance() => Enumerable.Range(0, _rank).Select(i => (double)(_rank - i)).ToArray();

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() =>
    [
        new("lora_A.weight", lora_A),
        new("lora_B.weight", lora_B),
    ];

    /// <summary>A[:b] and B[:, :b]; with <paramref name="frozen"/>, all but the last component detached.</summary>
    private (Tensor A, Tensor B) Factors(bool frozen)
    {
        var a = lora_A[.._rank];
        var b = lora_B[.., .._rank];
        if (frozen && _rank > 1)
        {
            a = cat([a[..(_rank - 1)].detach(), a[(_rank - 1)..]], 0);
            b = cat([b[.., ..(_rank - 1)].detach(), b[.., (_rank - 1)..]], 1);
        }

        return (a, b);
    }
}
