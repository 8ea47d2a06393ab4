using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara;

/// <summary>
/// Mo-SARA's path [R]: frozen bases <c>lora_A = V_kᵀ (k, in)</c> and <c>lora_B = U_k (out, k)</c> (the
/// top-k singular vectors of the pretrained weight, or seeded random bases), E trainable
/// singular-value sets <c>lora_lambda (E, k)</c> (zero at start, so ΔW = 0), a router
/// <c>lora_router (E, k)</c> (or <c>(E, in)</c> on the raw input) whose softmax mixes the sets per
/// token, and an optional output vector <c>lora_v (out)</c>:
/// <c>y = v ⊙ (U_k · ((π(x) · Λ) ⊙ (V_kᵀ · x)))</c>, scaling 1.
/// Token-dependent routing cannot be merged exactly; <see cref="MoSara.CalibrateRouting"/> fixes the
/// dataset-averaged π so an approximate merge/export becomes possible.
/// </summary>
public sealed class MoSaraPath : FactoredLowRankPath
{
    private readonly Tensor lora_A;
    private readonly Tensor lora_B;
    private readonly Parameter lora_lambda;
    private readonly Parameter lora_router;
    private readonly Parameter? lora_v;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;
    private Tensor? _routingSum;
    private long _routingCount;
    private Tensor? _meanRouting;

    /// <summary>Creates a path of rank <paramref name="rank"/> with <paramref name="sets"/> singular-value sets.</summary>
    /// <param name="inFeatures">Input features.</param>
    /// <param name="outFeatures">Output features.</param>
    /// <param name="rank">k.</param>
    /// <param name="sets">E.</param>
    /// <param name="basisA">V_kᵀ <c>(k, in)</c>, copied.</param>
    /// <param name="basisB">U_k <c>(out, k)</c>, copied.</param>
    /// <param name="routeRawInput">Route on x itself instead of V_kᵀ x.</param>
    /// <param name="outputVector">Add the trainable output vector v (init 1).</param>
    /// <param name="dropout">Dropout on the adapter input.</param>
    /// <param name="generator">Generator of the router's initial weights.</param>
    public MoSaraPath(int inFeatures, int outFeatures, int rank, int sets, Tensor basisA, Tensor basisB, bool routeRawInput = false, bool outputVector = false, double dropout = 0, Generator? generator = null)
        : base(nameof(MoSaraPath), inFeatures, outFeatures)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sets);
        Rank = rank;
        Sets = sets;
        RouteRawInput = routeRawInput;
        lora_A = basisA.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        lora_B = basisB.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        lora_lambda = nn.Parameter(zeros(sets, rank));
        var routerIn = routeRawInput ? inFeatures : rank;
        lora_router = nn.Parameter(empty(sets, routerIn));
        using (no_grad())
        {
            var bound = 1.0 / Math.Sqrt(routerIn);
            nn.init.uniform_(lora_router, -bound, bound, generator);
        }

        if (outputVector)
        {
            lora_v = nn.Parameter(ones(outFeatures));
        }

        if (dropout > 0)
        {
            lora_dropout = nn.Dropout(dropout);
        }

        RegisterComponents(); // the frozen bases (tensor fields) become buffers, the rest parameters
    }

    /// <inheritdoc />
    public override int Rank { get; }

    /// <summary>E, the number of singular-value sets.</summary>
    public int Sets { get; }

    /// <summary>Whether the router reads x instead of V_kᵀ x.</summary>
    public bool RouteRawInput { get; }

    /// <inheritdoc />
    public override double Scaling => 1.0;

    /// <summary>Frozen V_kᵀ <c>(k, in)</c>.</summary>
    public Tensor A => lora_A;

    /// <summary>Frozen U_k <c>(out, k)</c>.</summary>
    public Tensor B => lora_B;

    /// <summary>The singular-value sets Λ <c>(E, k)</c>.</summary>
    public Parameter Lambda => lora_lambda;

    /// <summary>The router weight <c>(E, k)</c> or <c>(E, in)</c>.</summary>
    public Parameter Router => lora_router;

    /// <summary>The output vector, when enabled.</summary>
    public Parameter? OutputVector => lora_v;

    /// <summary>The dataset-averaged routing weights fixed by calibration (null until then).</summary>
    public Tensor? MeanRouting => _meanRouting;

    /// <summary>Merging and plain-LoRA export are possible only after routing calibration, and are then approximate.</summary>
    public override bool SupportsMerge => _meanRouting is not null;

    /// <summary><c>(π(x) · Λ) ⊙ (V_kᵀ · x)</c>, recording π when calibrating.</summary>
    protected override Tensor DownProjection(Tensor input)
    {
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != lora_lambda.dtype)
        {
            x = x.to(lora_lambda.dtype);
        }

        var z = matmul(x, lora_A.t());
        var pi = nn.functional.softmax(matmul(RouteRawInput ? x : z, lora_router.t()), -1);
        if (_routingSum is not null)
        {
            using var noGrad = no_grad();
            _routingSum.add_(pi.detach().sum(0));
            _routingCount += pi.shape[0];
        }

        return z * matmul(pi, lora_lambda);
    }

    /// <summary><c>diag(v) · U_k</c> (U_k itself without an output vector).</summary>
    protected override Tensor UpProjection() => lora_v is null ? lora_B : lora_B * lora_v.unsqueeze(1);

    /// <summary>Starts summing the routing weights of every token this path sees.</summary>
    public void BeginRoutingCalibration()
    {
        _routingSum?.Dispose();
        _routingSum = zeros(Sets, device: lora_lambda.device).DetachFromDisposeScope();
        _routingCount = 0;
    }

    /// <summary>Fixes the mean routing weights of the tokens seen since <see cref="BeginRoutingCalibration"/>; returns the token count.</summary>
    public long EndRoutingCalibration()
    {
        if (_routingSum is null || _routingCount == 0)
        {
            _routingSum?.Dispose();
            _routingSum = null;
            throw new InvalidOperationException("routing calibration saw no tokens: run the model on data between begin and end");
        }

        _meanRouting?.Dispose();
        _meanRouting = (_routingSum / _routingCount).DetachFromDisposeScope();
        _routingSum.Dispose();
        _routingSum = null;
        return _routingCount;
    }

    /// <summary>The per-component values σ̄ = π̄ · Λ of the calibrated (approximate) merge.</summary>
    private Tensor MixedValues() =>
        matmul(_meanRouting ?? throw new InvalidOperationException("Mo-SARA routes per token and cannot be merged or exported exactly; run MoSara.CalibrateRouting first for the approximate form"), lora_lambda);

    /// <summary>The approximate increment <c>diag(v) · U_k · diag(π̄ Λ) · V_kᵀ</c> (needs calibration).</summary>
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var b = lora_B * MixedValues();
        if (lora_v is not null)
        {
            b = b * lora_v.unsqueeze(1);
        }

        return matmul(b, lora_A).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The approximate plain LoRA <c>A' = V_kᵀ</c>, <c>B' = diag(v) · U_k · diag(π̄ Λ)</c> (needs calibration).</summary>
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var b = lora_B * MixedValues();
        if (lora_v is not null)
        {
            b = b * lora_v.unsqueeze(1);
        }

        return new PlainLoraFactors(lora_A.clone().MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope(), 1.0);
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors()
    {
        var tensors = new List<KeyValuePair<string, Tensor>>
        {
            new("lora_A", lora_A),
            new("lora_B", lora_B),
            new("lora_lambda", lora_lambda),
            new("lora_router", lora_router),
        };
        if (lora_v is not null)
        {
            tensors.Add(new("lora_v", lora_v));
        }

        return tensors;
    }
}
