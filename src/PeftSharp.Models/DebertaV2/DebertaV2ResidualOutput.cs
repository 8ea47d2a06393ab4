using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary><c>dense</c>, dropout, residual, <c>LayerNorm</c> (DeBERTa's <c>attention.output</c> and <c>output</c>).</summary>
public sealed class DebertaV2ResidualOutput : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    /// <summary>Creates the block for an input of <paramref name="inFeatures"/>.</summary>
    public DebertaV2ResidualOutput(int inFeatures, DebertaV2Config config) : base(nameof(DebertaV2ResidualOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(inFeatures, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropout);
        RegisterComponents();
    }

    /// <summary><c>LayerNorm(dropout(dense(hidden)) + residual)</c>.</summary>
    public Tensor Forward(Tensor hidden, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.forward(dropout.forward(dense.forward(hidden)) + residual).MoveToOuterDisposeScope();
    }
}
