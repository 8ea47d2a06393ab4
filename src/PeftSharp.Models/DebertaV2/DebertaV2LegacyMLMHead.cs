using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>The legacy <c>cls</c> wrapper holding <c>predictions</c>.</summary>
public sealed class DebertaV2LegacyMLMHead : nn.Module<Tensor, Tensor>
{
    private readonly DebertaV2LegacyPredictionHead predictions;

    /// <summary>Creates the wrapper.</summary>
    public DebertaV2LegacyMLMHead(DebertaV2LegacyPredictionHead head) : base(nameof(DebertaV2LegacyMLMHead))
    {
        predictions = head;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden) => predictions.forward(hidden);
}
