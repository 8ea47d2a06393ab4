using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// Hugging Face's legacy DeBERTa-v2 masked-LM head (<c>cls.predictions</c>, the default
/// <c>legacy: true</c>): <c>transform</c>, then logits against the tied word embeddings plus <c>bias</c>.
/// </summary>
public sealed class DebertaV2LegacyPredictionHead : nn.Module<Tensor, Tensor>
{
    private readonly DebertaV2PredictionTransform transform;
    private readonly Parameter bias;
    private readonly Func<Tensor> _decoderWeight;

    /// <summary>Creates the head; <paramref name="decoderWeight"/> returns the tied embedding table.</summary>
    public DebertaV2LegacyPredictionHead(DebertaV2Config config, Func<Tensor> decoderWeight) : base(nameof(DebertaV2LegacyPredictionHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        transform = new DebertaV2PredictionTransform(config);
        bias = nn.Parameter(zeros(config.VocabSize));
        _decoderWeight = decoderWeight;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return nn.functional.linear(transform.forward(hidden), _decoderWeight(), bias).MoveToOuterDisposeScope();
    }
}
