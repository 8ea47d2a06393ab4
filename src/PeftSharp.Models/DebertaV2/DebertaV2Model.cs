using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>The DeBERTa-v2 backbone: <c>embeddings</c> and <c>encoder</c>.</summary>
public sealed class DebertaV2Model : nn.Module
{
    private readonly DebertaV2Embeddings embeddings;
    private readonly DebertaV2Encoder encoder;

    /// <summary>Creates the backbone.</summary>
    public DebertaV2Model(DebertaV2Config config) : base(nameof(DebertaV2Model))
    {
        ArgumentNullException.ThrowIfNull(config);
        embeddings = new DebertaV2Embeddings(config);
        encoder = new DebertaV2Encoder(config);
        RegisterComponents();
    }

    /// <summary>The embeddings.</summary>
    public DebertaV2Embeddings Embeddings => embeddings;

    /// <summary>The last hidden states <c>(batch, T, hidden)</c>.</summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var hidden = embeddings.Forward(inputIds, tokenTypeIds, attentionMask);
        return encoder.Forward(hidden, attentionMask).MoveToOuterDisposeScope();
    }
}
