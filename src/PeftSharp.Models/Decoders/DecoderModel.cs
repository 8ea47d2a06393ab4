using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>The decoder backbone: <c>embed_tokens</c>, <c>layers.N</c>, <c>norm</c>.</summary>
public sealed class DecoderModel : nn.Module
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<DecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly DecoderConfig _config;
    private readonly RotaryEmbedding _rotary;

    /// <summary>Creates the backbone with random weights in <paramref name="dtype"/>.</summary>
    public DecoderModel(DecoderConfig config, ScalarType dtype) : base(nameof(DecoderModel))
    {
        _config = config;
        _rotary = new RotaryEmbedding(config.Rope, config.RotaryDim);
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize, dtype: dtype);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new DecoderLayer(config, dtype)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype);
        RegisterComponents();
    }

    /// <summary>
    /// transformers' <c>gradient_checkpointing</c>: in training with gradient enabled and no KV cache, each
    /// layer keeps only its input and recomputes its activations in the backward (dropout replayed
    /// exactly), trading one extra layer forward for the memory of its activations.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The token embedding table (also the output head when embeddings are tied).</summary>
    public Parameter TokenEmbeddings => embed_tokens.weight!;

    /// <summary>
    /// Final hidden states <c>(batch, T, hidden)</c> for <paramref name="inputIds"/> <c>(batch, T)</c>
    /// following the <paramref name="cache"/>'s positions (appended to it).
    /// </summary>
    /// <param name="inputIds">Token ids.</param>
    /// <param name="attentionMask">1 for real tokens, 0 for padding, over the cached and new positions <c>(batch, past+T)</c>; null: all real.</param>
    /// <param name="positionIds">
    /// RoPE positions <c>(batch, T)</c>; null: from the mask (cumulative count of real tokens − 1) or past…past+T−1.
    /// Given without a cache, positions that restart inside a row mark packed examples (transformers'
    /// <c>DataCollatorWithFlattening</c>): each token then attends only within its example (and, with a
    /// mask, only to real tokens).
    /// </param>
    /// <param name="cache">The KV cache, or null to attend within <paramref name="inputIds"/> only.</param>
    /// <param name="hiddenStates">
    /// When given, receives transformers' <c>output_hidden_states</c>: the embeddings' output, then every
    /// layer's output, the last one after the final norm (<c>layers + 1</c> tensors, each <c>(batch, T, hidden)</c>).
    /// </param>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null, IList<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        var (batch, length) = (inputIds.shape[0], inputIds.shape[1]);
        var past = cache?.Length ?? 0;
        Attention.CheckTokenIds(inputIds, _config.VocabSize);
        if (attentionMask is not null && (attentionMask.shape.Length != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != past + length))
        {
            throw new ArgumentException($"attention_mask must be (batch {batch}, cached + new positions {past + length}), got [{string.Join(", ", attentionMask.shape)}]", nameof(attentionMask));
        }

        var padding = attentionMask is not null && !attentionMask.all().item<bool>() ? attentionMask : null;
        var segments = positionIds is not null && past == 0 ? CausalMask.Segments(positionIds) : null;
        positionIds ??= attentionMask is null
            ? arange(past, past + length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0).expand(batch, length)
            : PositionsFromMask(attentionMask).narrow(1, past, length);

        var hidden = embed_tokens.forward(inputIds);
        hiddenStates?.Add(hidden.MoveToOuterDisposeScope());
        var (cos, sin) = _rotary.Compute(positionIds, hidden.dtype);
        var masks = new Dictionary<int, (Tensor? Mask, bool Causal)>();
        var checkpoint = GradientCheckpointing && training && cache is null && is_grad_enabled();
        for (var i = 0; i < layers.Count; i++)
        {
            var window = _config.SlidingWindows[i];
            var key = window ?? 0;
            if (!masks.TryGetValue(key, out var mask))
            {
                var built = CausalMask.Build(padding, past, length, window, hidden.dtype, hidden.device, out var causal, segments);
                masks[key] = mask = (built, causal);
            }

            hidden = checkpoint
                ? CheckpointedLayer(i, hidden, cos, sin, mask.Mask, mask.Causal)
                : layers[i].Forward(hidden, _rotary, cos, sin, mask.Mask, mask.Causal, cache, i);
            if (hiddenStates is not null && i < layers.Count - 1)
            {
                hiddenStates.Add(hidden.MoveToOuterDisposeScope());
            }
        }

        cache?.Advance((int)length);
        var output = norm.forward(hidden).MoveToOuterDisposeScope();
        hiddenStates?.Add(output);
        return output;
    }

    private Tensor CheckpointedLayer(int index, Tensor hidden, Tensor cos, Tensor sin, Tensor? mask, bool causal)
    {
        var layer = layers[index];
        return ActivationCheckpoint.Run(
            (input, tables) => layer.Forward(input, _rotary, tables[0]!, tables[1]!, tables[2], causal, null, index),
            hidden,
            [cos, sin, mask],
            layer.parameters());
    }

    /// <summary>transformers' generation positions: cumulative count of real tokens − 1, padding at 1.</summary>
    internal static Tensor PositionsFromMask(Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var mask = attentionMask.to(ScalarType.Int64);
        return (mask.cumsum(1) - 1).masked_fill(mask.eq(0), 1).MoveToOuterDisposeScope();
    }
}
