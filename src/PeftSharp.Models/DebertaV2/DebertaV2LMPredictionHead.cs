using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// Hugging Face's current DeBERTa-v2 masked-LM head (<c>lm_predictions.lm_head</c>, with
/// <c>legacy: false</c>): <c>dense</c>, <c>hidden_act</c>, <c>LayerNorm</c>, then logits against the
/// word embeddings plus <c>bias</c>.
/// </summary>
public sealed class DebertaV2LMPredictionHead : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly LayerNorm LayerNorm;
    private readonly Parameter bias;
    private readonly string _activation;
    private readonly Func<Tensor> _decoderWeight;

    /// <summary>Creates the head; <paramref name="decoderWeight"/> returns the tied embedding table.</summary>
    public DebertaV2LMPredictionHead(DebertaV2Config config, Func<Tensor> decoderWeight) : base(nameof(DebertaV2LMPredictionHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        bias = nn.Parameter(zeros(config.VocabSize));
        _activation = config.HiddenAct;
        _decoderWeight = decoderWeight;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = LayerNorm.forward(Activations.Apply(_activation, dense.forward(hidden)));
        return nn.functional.linear(x, _decoderWeight(), bias).MoveToOuterDisposeScope();
    }
}
