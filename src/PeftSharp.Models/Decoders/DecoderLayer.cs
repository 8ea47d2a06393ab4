using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>One pre-norm decoder layer: <c>input_layernorm</c>, <c>self_attn</c>, residual, <c>post_attention_layernorm</c>, <c>mlp</c>, residual.</summary>
public sealed class DecoderLayer : nn.Module
{
    private readonly RmsNorm input_layernorm;
    private readonly DecoderAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly DecoderMlp mlp;

    /// <summary>Creates the layer with random weights in <paramref name="dtype"/>.</summary>
    public DecoderLayer(DecoderConfig config, ScalarType dtype) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        self_attn = new DecoderAttention(config, dtype);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        mlp = new DecoderMlp(config, dtype);
        RegisterComponents();
    }

    internal Tensor Forward(Tensor hidden, RotaryEmbedding rotary, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        hidden = hidden + self_attn.Forward(input_layernorm.forward(hidden), rotary, cos, sin, mask, causal, cache, layer);
        return (hidden + mlp.forward(post_attention_layernorm.forward(hidden))).MoveToOuterDisposeScope();
    }
}
