using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>The masked-LM transform: <c>dense</c> (hidden → embedding size), <c>hidden_act</c>, <c>LayerNorm</c>.</summary>
public sealed class DebertaV2PredictionTransform : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly LayerNorm LayerNorm;
    private readonly string _activation;

    /// <summary>Creates the transform.</summary>
    public DebertaV2PredictionTransform(DebertaV2Config config) : base(nameof(DebertaV2PredictionTransform))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.EmbeddingSize);
        LayerNorm = nn.LayerNorm(config.EmbeddingSize, config.LayerNormEps);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.forward(Activations.Apply(_activation, dense.forward(hidden))).MoveToOuterDisposeScope();
    }
}
