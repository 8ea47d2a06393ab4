using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// DeBERTa's disentangled self-attention: content-to-content scores plus content-to-position
/// (<c>c2p</c>) and position-to-content (<c>p2c</c>) terms against projected relative-position
/// embeddings, all divided by √(d_head · (1 + number of terms)). The projections <c>query_proj</c>,
/// <c>key_proj</c>, <c>value_proj</c> (and <c>pos_key_proj</c>/<c>pos_query_proj</c> when keys are not
/// shared) are adapter targets; with <c>share_att_key</c> the relative embeddings go through
/// <c>query_proj</c>/<c>key_proj</c>, so an adapter there acts on them too.
/// </summary>
public sealed class DisentangledSelfAttention : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> query_proj;
    private readonly nn.Module<Tensor, Tensor> key_proj;
    private readonly nn.Module<Tensor, Tensor> value_proj;
    private readonly nn.Module<Tensor, Tensor>? pos_key_proj;
    private readonly nn.Module<Tensor, Tensor>? pos_query_proj;
    private readonly Dropout pos_dropout;
    private readonly Dropout dropout;
    private readonly DebertaV2Config _config;

    /// <summary>Creates the projections for <paramref name="config"/>.</summary>
    public DisentangledSelfAttention(DebertaV2Config config) : base(nameof(DisentangledSelfAttention))
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        query_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        key_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        value_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        if (config.RelativeAttention && !config.ShareAttKey)
        {
            pos_key_proj = config.ContentToPosition ? nn.Linear(config.HiddenSize, config.HiddenSize) : null;
            pos_query_proj = config.PositionToContent ? nn.Linear(config.HiddenSize, config.HiddenSize) : null;
        }

        pos_dropout = nn.Dropout(config.HiddenDropout);
        dropout = nn.Dropout(config.AttentionDropout);
        RegisterComponents();
    }

    /// <summary>
    /// Attends over <paramref name="hidden"/> <c>(batch, T, hidden)</c>. <paramref name="allowed"/> is a
    /// boolean <c>(batch, 1, T, T)</c> mask (true where query i may attend key j) or null;
    /// <paramref name="relativePositions"/> <c>(T, T)</c> and <paramref name="relativeEmbeddings"/>
    /// <c>(2·span, hidden)</c> are given with relative attention.
    /// </summary>
    public Tensor Forward(Tensor hidden, Tensor? allowed, Tensor? relativePositions, Tensor? relativeEmbeddings)
    {
        using var scope = NewDisposeScope();
        var heads = _config.NumAttentionHeads;
        var q = SplitHeads(query_proj.forward(hidden), heads);
        var k = SplitHeads(key_proj.forward(hidden), heads);
        var v = SplitHeads(value_proj.forward(hidden), heads);
        var scale = Math.Sqrt(q.shape[^1] * (double)_config.ScaleFactor);
        var scores = q.matmul(k.transpose(-1, -2) / scale);
        if (_config.RelativeAttention && relativePositions is not null && relativeEmbeddings is not null)
        {
            scores = scores + RelativeBias(q, k, relativePositions, pos_dropout.forward(relativeEmbeddings), scale);
        }

        Tensor probabilities;
        if (allowed is not null)
        {
            var blocked = allowed.logical_not();
            var minimum = scores.dtype == ScalarType.Float64 ? double.MinValue : float.MinValue;
            probabilities = scores.masked_fill(blocked, minimum).softmax(-1).masked_fill(blocked, 0.0);
        }
        else
        {
            probabilities = scores.softmax(-1);
        }

        var context = dropout.forward(probabilities).matmul(v);
        var (batch, length) = (hidden.shape[0], hidden.shape[1]);
        return context.transpose(1, 2).reshape(batch, length, -1).MoveToOuterDisposeScope();
    }

    private Tensor RelativeBias(Tensor q, Tensor k, Tensor relativePositions, Tensor relativeEmbeddings, double scale)
    {
        var span = _config.AttentionSpan;
        var heads = _config.NumAttentionHeads;
        var length = q.shape[2];
        var table = relativeEmbeddings[..(2 * span)].unsqueeze(0);
        Tensor score = zeros(1, dtype: q.dtype, device: q.device);
        if (_config.ContentToPosition)
        {
            var positionKeys = SplitHeads((_config.ShareAttKey ? key_proj : pos_key_proj!).forward(table), heads);
            var c2p = q.matmul(positionKeys.transpose(-1, -2));
            var index = (relativePositions + span).clamp(0, 2 * span - 1).expand(q.shape[0], heads, length, length);
            score = score + c2p.gather(-1, index) / scale;
        }

        if (_config.PositionToContent)
        {
            var positionQueries = SplitHeads((_config.ShareAttKey ? query_proj : pos_query_proj!).forward(table), heads);
            var p2c = k.matmul(positionQueries.transpose(-1, -2));
            var index = (span - relativePositions).clamp(0, 2 * span - 1).expand(k.shape[0], heads, length, length);
            score = score + p2c.gather(-1, index).transpose(-1, -2) / scale;
        }

        return score;
    }

    private static Tensor SplitHeads(Tensor x, int heads) =>
        x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2);
}
