using PeftSharp.Runtime;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>The gated MLP <c>down_proj(act(gate_proj(x)) · up_proj(x))</c>, or Phi-3's fused <c>gate_up_proj</c> (rows gate | up).</summary>
public sealed class DecoderMlp : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>? gate_proj;
    private readonly nn.Module<Tensor, Tensor>? up_proj;
    private readonly nn.Module<Tensor, Tensor>? gate_up_proj;
    private readonly nn.Module<Tensor, Tensor> down_proj;
    private readonly string _activation;

    /// <summary>Creates the block with random weights in <paramref name="dtype"/>.</summary>
    public DecoderMlp(DecoderConfig config, ScalarType dtype) : base(nameof(DecoderMlp))
    {
        var (hidden, inner) = (config.HiddenSize, config.IntermediateSize);
        if (config.FusedProjections)
        {
            gate_up_proj = nn.Linear(hidden, 2 * inner, config.MlpBias, dtype: dtype);
        }
        else
        {
            gate_proj = nn.Linear(hidden, inner, config.MlpBias, dtype: dtype);
            up_proj = nn.Linear(hidden, inner, config.MlpBias, dtype: dtype);
        }

        down_proj = nn.Linear(inner, hidden, config.MlpBias, dtype: dtype);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor gate, up;
        if (gate_up_proj is not null)
        {
            var both = RowLinear.Forward(gate_up_proj, input);
            var half = both.shape[^1] / 2;
            (gate, up) = (both.narrow(-1, 0, half), both.narrow(-1, half, half));
        }
        else
        {
            (gate, up) = (RowLinear.Forward(gate_proj!, input), RowLinear.Forward(up_proj!, input));
        }

        return RowLinear.Forward(down_proj, Activations.Apply(_activation, gate) * up).MoveToOuterDisposeScope();
    }
}
