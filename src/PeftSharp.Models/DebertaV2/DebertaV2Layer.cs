using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>One encoder layer: <c>attention</c>, <c>intermediate</c>, <c>output</c>.</summary>
public sealed class DebertaV2Layer : nn.Module
{
    private readonly DebertaV2Attention attention;
    private readonly DebertaV2Intermediate intermediate;
    private readonly DebertaV2ResidualOutput output;

    /// <summary>Creates the layer.</summary>
    public DebertaV2Layer(DebertaV2Config config) : base(nameof(DebertaV2Layer))
    {
        ArgumentNullException.ThrowIfNull(config);
        attention = new DebertaV2Attention(config);
        intermediate = new DebertaV2Intermediate(config);
        output = new DebertaV2ResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    /// <summary>Runs the layer.</summary>
    public Tensor Forward(Tensor hidden, Tensor? allowed, Tensor? relativePositions, Tensor? relativeEmbeddings)
    {
        using var scope = NewDisposeScope();
        var attended = attention.Forward(hidden, allowed, relativePositions, relativeEmbeddings);
        return output.Forward(intermediate.Forward(attended), attended).MoveToOuterDisposeScope();
    }
}
