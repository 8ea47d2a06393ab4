using PeftSharp.Runtime;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Decoder self-attention: <c>q_proj</c>/<c>k_proj</c>/<c>v_proj</c> (or Phi-3's fused
/// <c>qkv_proj</c>, rows q | k | v), optional per-head <c>q_norm</c>/<c>k_norm</c> (Qwen3), RoPE,
/// grouped-query attention (each kv head serves heads/kv query heads) and <c>o_proj</c>.
/// </summary>
public sealed class DecoderAttention : nn.Module
{
    private readonly nn.Module<Tensor, Tensor>? q_proj;
    private readonly nn.Module<Tensor, Tensor>? k_proj;
    private readonly nn.Module<Tensor, Tensor>? v_proj;
    private readonly nn.Module<Tensor, Tensor>? qkv_proj;
    private readonly nn.Module<Tensor, Tensor> o_proj;
    private readonly RmsNorm? q_norm;
    private readonly RmsNorm? k_norm;
    private readonly DecoderConfig _config;

    /// <summary>Creates the block with random weights in <paramref name="dtype"/>.</summary>
    public DecoderAttention(DecoderConfig config, ScalarType dtype) : base(nameof(DecoderAttention))
    {
        _config = config;
        var (hidden, heads, kv, dim) = (config.HiddenSize, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim);
        if (config.FusedProjections)
        {
            qkv_proj = nn.Linear(hidden, (heads + (2 * kv)) * dim, config.QkvBias, dtype: dtype);
        }
        else
        {
            q_proj = nn.Linear(hidden, heads * dim, config.QkvBias, dtype: dtype);
            k_proj = nn.Linear(hidden, kv * dim, config.QkvBias, dtype: dtype);
            v_proj = nn.Linear(hidden, kv * dim, config.QkvBias, dtype: dtype);
        }

        o_proj = nn.Linear(heads * dim, hidden, config.OutputBias, dtype: dtype);
        if (config.QkNorm)
        {
            q_norm = new RmsNorm(dim, config.RmsNormEps, dtype);
            k_norm = new RmsNorm(dim, config.RmsNormEps, dtype);
        }

        RegisterComponents();
    }

    /// <summary>
    /// Attends <paramref name="hidden"/> <c>(batch, T, hidden)</c> to itself and the cached positions.
    /// </summary>
    /// <param name="hidden">The normalised hidden states.</param>
    /// <param name="rotary">The rotary embedding.</param>
    /// <param name="cos">RoPE cosines <c>(batch, 1, T, rotary_dim)</c>.</param>
    /// <param name="sin">RoPE sines.</param>
    /// <param name="mask">Additive mask <c>(batch or 1, 1, T, past+T)</c>, or null.</param>
    /// <param name="causal">With a null mask: let SDPA apply the causal mask.</param>
    /// <param name="cache">The KV cache to append to and read from, or null.</param>
    /// <param name="layer">This layer's index in the cache.</param>
    internal Tensor Forward(Tensor hidden, RotaryEmbedding rotary, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var (batch, length) = (hidden.shape[0], hidden.shape[1]);
        var (heads, kv, dim) = (_config.NumAttentionHeads, _config.NumKeyValueHeads, _config.HeadDim);
        Tensor q, k, v;
        if (qkv_proj is not null)
        {
            var qkv = RowLinear.Forward(qkv_proj, hidden);
            q = qkv.narrow(-1, 0, heads * dim);
            k = qkv.narrow(-1, heads * dim, kv * dim);
            v = qkv.narrow(-1, (heads + kv) * dim, kv * dim);
        }
        else
        {
            q = RowLinear.Forward(q_proj!, hidden);
            k = RowLinear.Forward(k_proj!, hidden);
            v = RowLinear.Forward(v_proj!, hidden);
        }

        q = q.reshape(batch, length, heads, dim);
        k = k.reshape(batch, length, kv, dim);
        if (q_norm is not null)
        {
            q = q_norm.forward(q);
            k = k_norm!.forward(k);
        }

        q = rotary.Apply(q.transpose(1, 2), cos, sin, evaluating: !training);
        k = rotary.Apply(k.transpose(1, 2), cos, sin, evaluating: !training);
        v = v.reshape(batch, length, kv, dim).transpose(1, 2);
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v);
        }

        var dropout = training ? _config.AttentionDropout : 0.0;
        if (training && cache is null && BlockCausalAttention.TryForward(q, k, v, mask, causal, dropout) is { } blocks)
        {
            // A training step on short sequences: grouped, block-causal GEMMs instead of SDPA (see the type).
            return RowLinear.Forward(o_proj, blocks).MoveToOuterDisposeScope();
        }

        Tensor context;
        if (!training && batch == 1 && length == 1 && SingleQueryAttention.TryForward(q, k, v, mask, dropout) is { } single)
        {
            // One query of one sequence (a batch-1 decoding step) against the cache, without libtorch's per-call setup.
            context = single;
        }
        else if (kv != heads && length == 1)
        {
            // One query per sequence (a decoding step): the query heads sharing a kv head attend as the rows
            // of one query block, so the cached keys and values are read in place instead of being copied once
            // per query head. The mask (batch or 1, 1, 1, past+1) broadcasts over the rows.
            context = nn.functional.scaled_dot_product_attention(q.reshape(batch, kv, heads / kv, dim), k, v, mask, dropout)
                .reshape(batch, heads, 1, dim);
        }
        else
        {
            if (kv != heads)
            {
                k = RepeatHeads(k, heads / kv);
                v = RepeatHeads(v, heads / kv);
            }

            context = nn.functional.scaled_dot_product_attention(q, k, v, mask, dropout, causal && mask is null);
        }

        var output = RowLinear.Forward(o_proj, context.transpose(1, 2).reshape(batch, length, heads * dim));
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>transformers' <c>repeat_kv</c>: <c>(b, kv, S, d)</c> → <c>(b, kv·n, S, d)</c>, each kv head repeated n times consecutively.</summary>
    private static Tensor RepeatHeads(Tensor x, int repeats)
    {
        var (batch, kv, length, dim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        return x.unsqueeze(2).expand(batch, kv, repeats, length, dim).reshape(batch, kv * repeats, length, dim);
    }
}
