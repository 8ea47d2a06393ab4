using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>DeBERTa's pooler: dropout, <c>dense</c> and <c>pooler_hidden_act</c> on the first token.</summary>
public sealed class ContextPooler : nn.Module<Tensor, Tensor>, Adapters.ICloneableModule
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly Dropout dropout;
    private readonly DebertaV2Config _config;

    /// <summary>Creates the pooler.</summary>
    public ContextPooler(DebertaV2Config config) : base(nameof(ContextPooler))
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.PoolerDropout);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return Activations.Apply(_config.PoolerHiddenAct, dense.forward(dropout.forward(hidden[.., 0]))).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> CloneModule()
    {
        var copy = new ContextPooler(_config);
        Adapters.ModuleCloner.CopyState(this, copy);
        return copy;
    }
}
