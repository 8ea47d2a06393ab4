using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>Attention block: <c>self</c> (disentangled) and <c>output</c>.</summary>
public sealed class DebertaV2Attention : nn.Module
{
    private readonly DisentangledSelfAttention self;
    private readonly DebertaV2ResidualOutput output;

    /// <summary>Creates the block.</summary>
    public DebertaV2Attention(DebertaV2Config config) : base(nameof(DebertaV2Attention))
    {
        ArgumentNullException.ThrowIfNull(config);
        self = new DisentangledSelfAttention(config);
        output = new DebertaV2ResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    /// <summary>Post-LN disentangled attention with residual.</summary>
    public Tensor Forward(Tensor hidden, Tensor? allowed, Tensor? relativePositions, Tensor? relativeEmbeddings)
    {
        using var scope = NewDisposeScope();
        return output.Forward(self.Forward(hidden, allowed, relativePositions, relativeEmbeddings), hidden).MoveToOuterDisposeScope();
    }
}
