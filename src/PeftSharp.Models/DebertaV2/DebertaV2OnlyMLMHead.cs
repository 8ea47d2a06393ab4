using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>The current <c>lm_predictions</c> wrapper holding <c>lm_head</c>.</summary>
public sealed class DebertaV2OnlyMLMHead : nn.Module<Tensor, Tensor>
{
    private readonly DebertaV2LMPredictionHead lm_head;

    /// <summary>Creates the wrapper.</summary>
    public DebertaV2OnlyMLMHead(DebertaV2LMPredictionHead head) : base(nameof(DebertaV2OnlyMLMHead))
    {
        lm_head = head;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden) => lm_head.forward(hidden);
}
