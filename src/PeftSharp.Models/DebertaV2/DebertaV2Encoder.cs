using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// The layer stack (<c>layer.0</c>, …) with the shared relative-position table
/// <c>rel_embeddings</c>, its <c>LayerNorm</c> (<c>norm_rel_ebd</c>) and the optional <c>conv</c>.
/// </summary>
public sealed class DebertaV2Encoder : nn.Module
{
    private readonly ModuleList<DebertaV2Layer> layer;
    private readonly Embedding? rel_embeddings;
    private readonly LayerNorm? LayerNorm;
    private readonly DebertaV2ConvLayer? conv;
    private readonly DebertaV2Config _config;

    /// <summary>Creates the stack.</summary>
    public DebertaV2Encoder(DebertaV2Config config) : base(nameof(DebertaV2Encoder))
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new DebertaV2Layer(config)).ToArray());
        rel_embeddings = config.RelativeAttention ? nn.Embedding(2L * config.AttentionSpan, config.HiddenSize) : null;
        LayerNorm = config.NormRelativeEmbeddings ? nn.LayerNorm(config.HiddenSize, config.LayerNormEps) : null;
        conv = config.ConvKernelSize > 0 ? new DebertaV2ConvLayer(config) : null;
        RegisterComponents();
    }

    /// <summary>Runs every layer over <paramref name="embedded"/> <c>(batch, T, hidden)</c>; <paramref name="mask"/> is 1 for real tokens, 0 for padding, or null.</summary>
    public Tensor Forward(Tensor embedded, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var length = embedded.shape[1];
        Tensor? allowed = null;
        if (mask is not null)
        {
            var real = mask.to(ScalarType.Bool);
            allowed = real.view(real.shape[0], 1, 1, length).logical_and(real.view(real.shape[0], 1, length, 1));
        }

        Tensor? positions = null;
        Tensor? table = null;
        if (rel_embeddings is not null)
        {
            positions = RelativePositions.Build(length, length, _config.PositionBuckets, _config.MaxRelativePositions, embedded.device);
            table = LayerNorm is null ? rel_embeddings.weight! : LayerNorm.forward(rel_embeddings.weight!);
        }

        var hidden = embedded;
        for (var i = 0; i < layer.Count; i++)
        {
            hidden = layer[i].Forward(hidden, allowed, positions, table);
            if (i == 0 && conv is not null)
            {
                hidden = conv.Forward(embedded, hidden, mask);
            }
        }

        return hidden.MoveToOuterDisposeScope();
    }
}
