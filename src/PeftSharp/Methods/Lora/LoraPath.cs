using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Lora;

/// <summary>The LoRA path: <c>s · B · A · dropout(x)</c>, <c>s = alpha / r</c> (rsLoRA: <c>alpha / √r</c>).</summary>
public sealed class LoraPath : FactoredLowRankPath
{
    private readonly Parameter lora_A;
    private readonly Parameter lora_B;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;

    /// <summary>Creates a rank-<paramref name="rank"/> path for a layer of the given sizes.</summary>
    public LoraPath(int inFeatures, int outFeatures, int rank, double alpha, double dropout = 0, bool useRslora = false, LoraInit init = LoraInit.Default, Generator? generator = null)
        : base(nameof(LoraPath), inFeatures, outFeatures)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        Rank = rank;
        Alpha = alpha;
        Scaling = useRslora ? alpha / Math.Sqrt(rank) : alpha / rank;
        lora_A = nn.Parameter(empty(rank, inFeatures));
        lora_B = nn.Parameter(empty(outFeatures, rank));
        using (no_grad())
        {
            var boundA = 1.0 / Math.Sqrt(inFeatures);
            switch (init)
            {
                case LoraInit.Default:
                    nn.init.uniform_(lora_A, -boundA, boundA, generator);
                    lora_B.zero_();
                    break;
                case LoraInit.Gaussian:
                    nn.init.normal_(lora_A, 0, 1.0 / rank, generator);
                    lora_B.zero_();
                    break;
                default:
                    nn.init.uniform_(lora_A, -boundA, boundA, generator);
                    nn.init.uniform_(lora_B, -1.0 / Math.Sqrt(rank), 1.0 / Math.Sqrt(rank), generator);
                    break;
            }
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

    /// <summary><c>s · dropout(x) · Aᵀ</c>: the rank-r activations, scaled (cheap: r columns).</summary>
    protected override Tensor DownProjection(Tensor input)
    {
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != lora_A.dtype)
        {
            x = x.to(lora_A.dtype);
        }

        return matmul(x, lora_A.t()).mul_(Scaling);
    }

    /// <inheritdoc />
    protected override Tensor UpProjection() => lora_B;

    /// <summary>
    /// Tests and benchmarks on this thread: true or false forces <see cref="FusedForward"/>'s kernel on or
    /// off; null (the default) leaves the choice to <see cref="FusedKernelPays"/>.
    /// </summary>
    [ThreadStatic]
    internal static bool? FusedKernelOverride;

    /// <summary>
    /// Tests and benchmarks on this thread: true or false forces the fused kernel's merged-weight form on
    /// or off; null (the default) leaves the choice to <see cref="MergedKernelPays"/>.
    /// </summary>
    [ThreadStatic]
    internal static bool? MergedKernelOverride;

    /// <summary>
    /// A training forward with gradient runs as one autograd node (<see cref="LoraLinearFunction"/>) when
    /// the LoRA dropout is inactive (p = 0 or eval mode), the frozen weight and bias need no gradient, the
    /// input shares the weight's dtype and the factors one dtype (the same, or wider on a bf16/fp16 base),
    /// and <see cref="FusedKernelPays"/> holds for the layer's shape.
    /// </summary>
    public override Tensor? FusedForward(LinearTarget target, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(input);
        if (!(FusedKernelOverride ?? FusedKernelPays(InFeatures, OutFeatures, Rank)) || !is_grad_enabled()
            || (lora_dropout is not null && lora_dropout.training)
            || !(input.requires_grad || lora_A.requires_grad || lora_B.requires_grad))
        {
            return null;
        }

        var (weight, bias) = (target.Weight, target.Bias);
        // The input and frozen tensors share one dtype, the factors another (the same, or fp32 on a bf16/fp16 base).
        if (weight.requires_grad || bias?.requires_grad == true || input.dtype != weight.dtype || lora_B.dtype != lora_A.dtype || (bias is not null && bias.dtype != weight.dtype))
        {
            return null;
        }

        var tokens = input.numel() / InFeatures;
        var merged = lora_A.dtype == weight.dtype && (MergedKernelOverride ?? MergedKernelPays(tokens, InFeatures, OutFeatures, Rank));
        return LoraLinearFunction.Apply(input, weight, target.FanInFanOut, bias, lora_A, lora_B, Scaling, merged);
    }

    /// <summary>
    /// The shapes where <see cref="LoraLinearFunction"/> beats autograd's graph of the same layer
    /// (measured side by side, docs/benchmarks.md "LoRA layer overhead").
    /// </summary>
    internal static bool FusedKernelPays(int inFeatures, int outFeatures, int rank) => true;

    /// <summary>
    /// The shapes where the fused kernel's merged-weight form beats its factored form: building
    /// <c>W + s·B·A</c> twice a step costs about four passes over an <c>out × in</c> matrix and saves the
    /// rank-r products' passes over the <c>tokens × out</c> and <c>tokens × in</c> activations. Read off
    /// <c>PeftSharp.Bench lora-kernels</c> (docs/benchmarks.md "LoRA layer overhead"): it pays at rank 16
    /// once <c>tokens·(in + out) &gt; 2·in·out</c> (1–4 % on the SmolLM2 projections at 1,024 and 2,048
    /// tokens) and not at rank 8 (768 → 768) or at 2048 → 2048 with 2,048 tokens, where the factored form's
    /// skinny products are the cheaper side.
    /// </summary>
    internal static bool MergedKernelPays(long tokens, int inFeatures, int outFeatures, int rank) =>
        rank >= 16 && tokens * (inFeatures + outFeatures) > 2L * inFeatures * outFeatures;

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var delta = matmul(lora_B.to(ScalarType.Float32), lora_A.to(ScalarType.Float32)).mul_(Scaling);
        return delta.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        return new PlainLoraFactors(lora_A.detach().clone(), lora_B.detach().clone(), Scaling);
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() =>
    [
        new("lora_A.weight", lora_A),
        new("lora_B.weight", lora_B),
    ];
}
