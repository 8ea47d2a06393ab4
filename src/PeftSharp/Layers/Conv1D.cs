using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Layers;

/// <summary>
/// GPT-2's "Conv1D": a linear layer whose weight is stored transposed, <c>(in, out)</c>, so that
/// <c>y = x·W + b</c>. Hugging Face checkpoints store GPT-2's attention and MLP weights this way;
/// PEFT calls the layout <c>fan_in_fan_out</c>.
/// </summary>
public sealed class Conv1D : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    /// <summary>Creates the layer with weight N(0, 0.02²) and zero bias, as GPT-2 initialises it.</summary>
    public Conv1D(int inFeatures, int outFeatures, bool hasBias = true) : base(nameof(Conv1D))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = nn.Parameter(empty(inFeatures, outFeatures));
        using (no_grad())
        {
            weight.normal_(0, 0.02);
        }

        if (hasBias)
        {
            bias = nn.Parameter(zeros(outFeatures));
        }

        RegisterComponents();
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }

    /// <summary>Output features.</summary>
    public int OutFeatures { get; }

    /// <summary>The weight, shape <c>(in, out)</c>.</summary>
    public Parameter Weight => weight;

    /// <summary>The bias, shape <c>(out)</c>, or null.</summary>
    public Parameter? Bias => bias;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var output = matmul(input, weight);
        if (bias is not null)
        {
            output = output + bias;
        }

        return output.MoveToOuterDisposeScope();
    }
}
