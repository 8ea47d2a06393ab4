using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>Feed-forward expansion: <c>dense</c> and the <c>hidden_act</c> activation.</summary>
public sealed class DebertaV2Intermediate : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly string _activation;

    /// <summary>Creates the block.</summary>
    public DebertaV2Intermediate(DebertaV2Config config) : base(nameof(DebertaV2Intermediate))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <summary><c>act(dense(hidden))</c>.</summary>
    public Tensor Forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return Activations.Apply(_activation, dense.forward(hidden)).MoveToOuterDisposeScope();
    }
}
