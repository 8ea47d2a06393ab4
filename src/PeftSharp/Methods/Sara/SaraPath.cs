using PeftSharp.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara;

/// <summary>
/// SARA's singular-value-form path of the module's own rank k: <c>ΔW = s · P · diag(λ) · Q</c> with
/// <c>lora_A = Q (k, in)</c>, <c>lora_E = λ (k, 1)</c>, <c>lora_B = P (out, k)</c>, P and Q ~ N(0, 0.02²),
/// λ = 0 (so ΔW = 0 at start) and <c>s = alpha / k</c> [R].
/// </summary>
public sealed class SaraPath : LowRankPath
{
    private readonly Parameter lora_A;
    private readonly Parameter lora_E;
    private readonly Parameter lora_B;
    private readonly nn.Module<Tensor, Tensor>? lora_dropout;

    /// <summary>Creates a rank-<paramref name="rank"/> path.</summary>
    public SaraPath(int inFeatures, int outFeatures, int rank, double alpha, double dropout = 0, Generator? generator = null)
        : base(nameof(SaraPath), inFeatures, outFeatures)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        Rank = rank;
        Scaling = alpha / rank;
        lora_A = nn.Parameter(empty(rank, inFeatures));
        lora_E = nn.Parameter(zeros(rank, 1));
        lora_B = nn.Parameter(empty(outFeatures, rank));
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
    public override double Scaling { get; }

    /// <summary>Q, <c>(k, in)</c>.</summary>
    public Parameter A => lora_A;

    /// <summary>λ, <c>(k, 1)</c>.</summary>
    public Parameter E => lora_E;

    /// <summary>P, <c>(out, k)</c>.</summary>
    public Parameter B => lora_B;

    /// <inheritdoc />
    public override string ParameterGroupOf(Parameter parameter) => ReferenceEquals(parameter, lora_E) ? "singular_values" : "adapter";

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = lora_dropout is null ? input : lora_dropout.forward(input);
        if (x.dtype != lora_A.dtype)
        {
            x = x.to(lora_A.dtype);
        }

        return matmul(matmul(x, lora_A.t()).mul_(lora_E.t() * Scaling), lora_B.t()).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return matmul(lora_B * lora_E.t(), lora_A).mul_(Scaling).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary><c>B' = P · diag(λ)</c>, <c>A' = Q</c>, scaling s.</summary>
    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        return new PlainLoraFactors(lora_A.detach().clone(), (lora_B * lora_E.t()).detach(), Scaling);
    }

    /// <inheritdoc />
    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() =>
    [
        new("lora_A", lora_A),
        new("lora_E", lora_E),
        new("lora_B", lora_B),
    ];
}
