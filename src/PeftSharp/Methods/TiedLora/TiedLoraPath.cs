using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.TiedLora;

/// <summary>
/// A Tied-LoRA path: <c>ΔW_l = s · diag(v_l) · B · diag(u_l) · A</c> with A and B shared through a
/// <see cref="TiedPair"/> (sliced to this layer's shape when the pair is sized for larger layers, as
/// VeRA does) and per-layer vectors <c>lora_u (r)</c>, <c>lora_v (out)</c>. Which of A, B, u, v train is
/// fixed by the configuration's flags; frozen ones keep <c>requires_grad = false</c>.
/// </summary>
public sealed class TiedLoraPath : FactoredLowRankPath
{
    private readonly TiedPair _pair;
    private readonly Parameter lora_u;
    private readonly Parameter lora_v;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;
    private readonly bool _sliced;

    /// <summary>Creates the path of one layer over <paramref name="pair"/>.</summary>
    public TiedLoraPath(int inFeatures, int outFeatures, TiedPair pair, TiedLoraFlags flags, double scaling, double uInit, double vInit, double dropout = 0)
        : base(nameof(TiedLoraPath), inFeatures, outFeatures)
    {
        _pair = pair;
        Flags = flags;
        Rank = (int)pair.A.shape[0];
        Scaling = scaling;
        _sliced = pair.A.shape[1] != inFeatures || pair.B.shape[0] != outFeatures;
        if (pair.A.shape[1] < inFeatures || pair.B.shape[0] < outFeatures || pair.B.shape[1] != Rank)
        {
            throw new ArgumentException($"tied pair '{pair.Key}' of shapes [{string.Join(", ", pair.A.shape)}] / [{string.Join(", ", pair.B.shape)}] cannot serve a {inFeatures} → {outFeatures} layer", nameof(pair));
        }

        lora_u = nn.Parameter(full(Rank, uInit, dtype: pair.A.dtype));
        lora_v = nn.Parameter(full(outFeatures, vInit, dtype: pair.A.dtype));
        if (dropout > 0)
        {
            lora_dropout = nn.Dropout(dropout);
        }

        RegisterComponents();

        // Every path registers the pair, so the model's parameters include it (PeftModel and the
        // optimizer de-duplicate by tensor); checkpoints store tied tensors once (SharedTensors).
        // Move the model to its device before injecting: a device move re-creates parameters per module.
        register_parameter("lora_A", pair.A);
        register_parameter("lora_B", pair.B);
    }

    /// <summary>Which tensors train and whether A/B are tied.</summary>
    public TiedLoraFlags Flags { get; }

    /// <summary>The pair this path uses.</summary>
    public TiedPair Pair => _pair;

    /// <inheritdoc />
    public override int Rank { get; }

    /// <inheritdoc />
    public override double Scaling { get; }

    /// <summary>The per-layer vector u (r).</summary>
    public Parameter U => lora_u;

    /// <summary>The per-layer vector v (out).</summary>
    public Parameter V => lora_v;

    /// <summary>A as this layer sees it <c>(r, in)</c>.</summary>
    public Tensor A => _sliced ? _pair.A[.., ..InFeatures] : _pair.A;

    /// <summary>B as this layer sees it <c>(out, r)</c>.</summary>
    public Tensor B => _sliced ? _pair.B[..OutFeatures, ..] : _pair.B;

    /// <summary><c>s · (dropout(x) · Aᵀ) ⊙ u</c>.</summary>
    protected override Tensor DownProjection(Tensor input)
    {
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != _pair.A.dtype)
        {
            x = x.to(_pair.A.dtype);
        }

        return matmul(x, A.t()).mul_(lora_u * Scaling);
    }

    /// <summary><c>diag(v) · B</c>.</summary>
    protected override Tensor UpProjection() => B * lora_v.unsqueeze(1);

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return matmul(UpProjection(), A * lora_u.unsqueeze(1)).mul_(Scaling).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Exact per-layer plain LoRA: <c>A' = diag(u)·A</c>, <c>B' = s·diag(v)·B</c>, scaling 1.</summary>
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var a = (A * lora_u.unsqueeze(1)).contiguous();
        var b = (UpProjection() * Scaling).contiguous();
        return new PlainLoraFactors(a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), 1.0);
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors()
    {
        var tensors = new List<KeyValuePair<string, Tensor>> { new("lora_u", lora_u), new("lora_v", lora_v) };
        if (!Flags.TieAB)
        {
            tensors.Insert(0, new("lora_A", _pair.A));
            tensors.Insert(1, new("lora_B", _pair.B));
        }

        return tensors;
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> SharedTensors() =>
        Flags.TieAB ? [new($"{_pair.Key}.lora_A", _pair.A), new($"{_pair.Key}.lora_B", _pair.B)] : [];

    /// <inheritdoc />
    public override void SetTrainable(bool trainable)
    {
        _pair.A.requires_grad = trainable && Flags.TrainA;
        _pair.B.requires_grad = trainable && Flags.TrainB;
        lora_u.requires_grad = trainable && Flags.TrainU;
        lora_v.requires_grad = trainable && Flags.TrainV;
    }
}
