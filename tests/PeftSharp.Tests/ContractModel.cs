using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>One encoder-shaped layer: query, key and value projections (injectable fields) and a mixing step.</summary>
internal sealed class ContractLayer : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> query;
    private readonly nn.Module<Tensor, Tensor> key;
    private readonly nn.Module<Tensor, Tensor> value;

    public ContractLayer(int d) : base(nameof(ContractLayer))
    {
        query = nn.Linear(d, d);
        key = nn.Linear(d, d);
        value = nn.Linear(d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var mixed = nn.functional.tanh(query.forward(input)) * nn.functional.sigmoid(key.forward(input)) + value.forward(input);
        return (input + mixed).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A small model with the module names the methods' encoder presets target (<c>layers.N.query</c>,
/// <c>layers.N.value</c>, <c>pooler</c>, <c>classifier</c>), so every registered method injects into it
/// with its own training preset.
/// </summary>
internal sealed class ContractModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> layers;
    private readonly nn.Module<Tensor, Tensor> pooler;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public ContractModel(int d = 12, int layerCount = 3, int labels = 3) : base(nameof(ContractModel))
    {
        layers = nn.ModuleList<nn.Module<Tensor, Tensor>>([.. Enumerable.Range(0, layerCount).Select(_ => (nn.Module<Tensor, Tensor>)new ContractLayer(d))]);
        pooler = nn.Linear(d, d);
        classifier = nn.Linear(d, labels);
        RegisterComponents();
    }

    /// <summary>Class logits for <c>(batch, tokens, d)</c> inputs.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var h = input;
        foreach (var layer in layers)
        {
            h = layer.forward(h);
        }

        var pooled = nn.functional.tanh(pooler.forward(h.mean([1L])));
        return classifier.forward(pooled).MoveToOuterDisposeScope();
    }
}
