using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>
/// AdaLoRA's SVD-form path: <c>ΔW = B · (A ⊙ E) · alpha / (ranknum + 1e-5)</c> with
/// <c>lora_A (r, in)</c>, <c>lora_E (r, 1)</c>, <c>lora_B (out, r)</c>. <c>ranknum</c> is the rank the
/// module was created with (init_r) and stays so after pruning, so the scaling never changes.
/// </summary>
public sealed class AdaLoraPath : LowRankPath
{
    private readonly Parameter lora_A;
    private readonly Parameter lora_E;
    private readonly Parameter lora_B;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;
    private readonly bool[] _kept;

    /// <summary>Creates a path of <paramref name="rank"/> triplets whose scaling uses <paramref name="rankNum"/>.</summary>
    public AdaLoraPath(int inFeatures, int outFeatures, int rank, int rankNum, double alpha, double dropout = 0, Generator? generator = null, ScalarType dtype = ScalarType.Float32, IReadOnlyList<int>? slots = null)
        : base(nameof(AdaLoraPath), inFeatures, outFeatures)
    {
        Slots = slots ?? Enumerable.Range(0, rank).ToArray();
        _kept = Enumerable.Repeat(true, rank).ToArray();
        if (Slots.Count != rank)
        {
            throw new ArgumentException($"{Slots.Count} slots for rank {rank}", nameof(slots));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rankNum);
        Rank = rank;
        RankNum = rankNum;
        Alpha = alpha;
        Scaling = (alpha > 0 ? alpha : rankNum) / (rankNum + 1e-5);
        lora_A = nn.Parameter(empty(rank, inFeatures, dtype: dtype));
        lora_E = nn.Parameter(zeros(rank, 1, dtype: dtype));
        lora_B = nn.Parameter(empty(outFeatures, rank, dtype: dtype));
        using (no_grad())
        {
            nn.init.normal_(lora_A, 0, 0.02, generator);
            nn.init.normal_(lora_B, 0, 0.02, generator);
        }

        if (dropout > 0)
        {
            lora_dropout = nn.Dropout(dropout);
        }

        RegisterComponents();
    }

    /// <inheritdoc />
    public override int Rank { get; }

    /// <inheritdoc />
    public override int EffectiveRank => _kept.Count(k => k);

    /// <summary>For each component, its index among the module's init_r triplets (a path loaded at a kept rank holds a subset).</summary>
    public IReadOnlyList<int> Slots { get; }

    /// <summary>Which components the last allocation kept (all until the allocator first masks).</summary>
    public IReadOnlyList<bool> Kept => _kept;

    /// <summary>Records the allocator's decision for each component.</summary>
    public void SetKept(IReadOnlyList<bool> kept)
    {
        if (kept.Count != _kept.Length)
        {
            throw new ArgumentException($"{kept.Count} flags for {_kept.Length} components", nameof(kept));
        }

        for (var i = 0; i < _kept.Length; i++)
        {
            _kept[i] = kept[i];
        }
    }

    /// <summary>PEFT's keep-mask of length init_r: slot i is true when this path holds it and the last allocation kept it.</summary>
    public bool[] KeepMask()
    {
        var mask = new bool[RankNum];
        for (var i = 0; i < Slots.Count; i++)
        {
            mask[Slots[i]] = _kept[i];
        }

        return mask;
    }

    /// <summary>The checkpoint holds only the kept triplets (PEFT's compact AdaLoRA form).</summary>
    public override IEnumerable<KeyValuePair<string, Tensor>> CheckpointTensors()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var live = tensor(Enumerable.Range(0, _kept.Length).Where(i => _kept[i]).Select(i => (long)i).ToArray());
        var result = new List<KeyValuePair<string, Tensor>>
        {
            new("lora_A", lora_A.index_select(0, live).MoveToOuterDisposeScope()),
            new("lora_E", lora_E.index_select(0, live).MoveToOuterDisposeScope()),
            new("lora_B", lora_B.index_select(1, live).MoveToOuterDisposeScope()),
        };
        return result;
    }

    /// <summary>The rank the module was created with (init_r); the scaling's denominator.</summary>
    public int RankNum { get; }

    /// <summary>The scaling numerator.</summary>
    public double Alpha { get; }

    /// <inheritdoc />
    public override double Scaling { get; }

    /// <summary>Right singular vectors <c>(r, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>Singular values <c>(r, 1)</c>.</summary>
    public Parameter E => lora_E;

    /// <summary>Left singular vectors <c>(out, r)</c>.</summary>
    public Parameter B => lora_B;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != lora_A.dtype)
        {
            x = x.to(lora_A.dtype);
        }

        return matmul(matmul(x, (lora_A * lora_E).t()).mul_(Scaling), lora_B.t()).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return matmul(lora_B.to(ScalarType.Float32), (lora_A * lora_E).to(ScalarType.Float32)).mul_(Scaling).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var live = lora_E.squeeze(1).ne(0).nonzero().squeeze(1);
        var a = lora_A.index_select(0, live);
        var b = lora_B.index_select(1, live) * lora_E.index_select(0, live).t();
        return new PlainLoraFactors(a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), Scaling);
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() =>
    [
        new("lora_A", lora_A),
        new("lora_E", lora_E),
        new("lora_B", lora_B),
    ];
}
