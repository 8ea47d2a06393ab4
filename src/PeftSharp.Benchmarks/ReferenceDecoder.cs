using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// The reference of the decoder engine suite: a Llama-style causal LM (RMSNorm, RoPE in the rotate-half
/// convention, grouped-query attention, SwiGLU MLP, tied embeddings) with LoRA on its seven projections,
/// and its SFT step (causal-LM loss on every token, AdamW over the LoRA factors) written directly
/// against TorchSharp tensors and functions — no PeftSharp model, adapter, controller or trainer types.
/// </summary>
public sealed class ReferenceDecoder : IDisposable
{
    /// <summary>The seven adapted projections of a layer, in the order a layer holds them.</summary>
    public static readonly IReadOnlyList<string> Projections = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    private readonly DecoderBenchShape _shape;
    private readonly double _scaling;
    private readonly double _eps;
    private readonly Tensor _embedding, _finalNorm, _cos, _sin;
    private readonly List<LayerWeights> _layers = [];
    private readonly List<Parameter> _trainable = [];

    /// <summary>
    /// Copies the frozen weights from <paramref name="weights"/> (Hugging Face names of a
    /// <c>LlamaForCausalLM</c> with tied embeddings: <c>model.embed_tokens.weight</c>,
    /// <c>model.layers.N.self_attn.q_proj.weight</c>, …) and the LoRA factors from <paramref name="lora"/>
    /// (keyed <c>model.layers.N.self_attn.q_proj</c>, …; PEFT's <c>lora_A.weight</c> and <c>lora_B.weight</c> of a LoRA path), so that both steps start from the same numbers.
    /// </summary>
    /// <param name="shape">The model and batch shape.</param>
    /// <param name="weights">The base weights by name.</param>
    /// <param name="lora">Each projection's (A <c>(r, in)</c>, B <c>(out, r)</c>).</param>
    /// <param name="scaling">The LoRA scaling <c>alpha / r</c>.</param>
    /// <param name="ropeTheta">RoPE base.</param>
    /// <param name="eps">RMSNorm epsilon.</param>
    public ReferenceDecoder(DecoderBenchShape shape, IReadOnlyDictionary<string, Tensor> weights, IReadOnlyDictionary<string, (Tensor A, Tensor B)> lora, double scaling, double ropeTheta, double eps)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(lora);
        _shape = shape;
        _scaling = scaling;
        _eps = eps;
        using var noGrad = no_grad();
        Tensor Copy(string name) => weights.TryGetValue(name, out var w) ? w.detach().clone().DetachFromDisposeScope() : throw new KeyNotFoundException($"reference decoder: no weight '{name}'");
        _embedding = Copy("model.embed_tokens.weight");
        _finalNorm = Copy("model.norm.weight");
        for (var l = 0; l < shape.Layers; l++)
        {
            var prefix = $"model.layers.{l}.";
            var projections = Projections.Select(p =>
            {
                var (a, b) = lora.TryGetValue(prefix + p, out var f) ? f : throw new KeyNotFoundException($"reference decoder: no LoRA factors for '{prefix + p}'");
                var pa = new Parameter(a.detach().clone());
                var pb = new Parameter(b.detach().clone());
                _trainable.AddRange([pa, pb]);
                return new LoraLinear(Copy(prefix + p + ".weight"), pa, pb);
            }).ToArray();
            _layers.Add(new LayerWeights(Copy(prefix + "input_layernorm.weight"), Copy(prefix + "post_attention_layernorm.weight"), projections));
        }

        // RoPE tables (S, head_dim): angles in float64, rounded through fp32.
        var dim = shape.HeadDim;
        var inverse = tensor(Enumerable.Range(0, dim / 2).Select(i => 1.0 / Math.Pow(ropeTheta, 2.0 * i / dim)).ToArray(), dtype: ScalarType.Float64);
        var angles = arange(shape.Sequence, dtype: ScalarType.Float64).unsqueeze(1) * inverse;
        var full = cat([angles, angles], 1);
        _cos = full.cos().to(ScalarType.Float32).DetachFromDisposeScope();
        _sin = full.sin().to(ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <summary>The LoRA factors the step trains.</summary>
    public IReadOnlyList<Parameter> Trainable => _trainable;

    /// <summary>One training step on <paramref name="ids"/> <c>(batch, S)</c>: forward, loss, backward, AdamW on the LoRA factors, zero grad; returns the step.</summary>
    public Action Step(Tensor ids)
    {
        var optimizer = optim.AdamW(_trainable, lr: 1e-4);
        return () =>
        {
            using var scope = NewDisposeScope();
            Loss(ids).backward();
            optimizer.step();
            optimizer.zero_grad();
        };
    }

    /// <summary>The mean next-token cross-entropy over every position of <paramref name="ids"/> (labels are the ids).</summary>
    public Tensor Loss(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var (batch, seq) = (ids.shape[0], ids.shape[1]);
        var vocab = _embedding.shape[0];
        var logits = nn.functional.linear(Hidden(ids), _embedding).view(batch, seq, vocab);
        var predicted = logits.narrow(1, 0, seq - 1).reshape(-1, vocab);
        var targets = ids.narrow(1, 1, seq - 1).reshape(-1);
        return nn.functional.cross_entropy(predicted, targets).MoveToOuterDisposeScope();
    }

    /// <summary>The final normalised hidden states <c>(batch·S, d)</c>.</summary>
    public Tensor Hidden(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var (batch, seq) = (ids.shape[0], ids.shape[1]);
        var (heads, kv, dim, hidden) = (_shape.Heads, _shape.KvHeads, _shape.HeadDim, (long)_shape.Hidden);
        var cos = _cos.narrow(0, 0, seq);
        var sin = _sin.narrow(0, 0, seq);
        var x = _embedding[ids].view(batch * seq, hidden);
        foreach (var layer in _layers)
        {
            var p = layer.Projections;
            var h = RmsNorm(x, layer.InputNorm);
            var q = Rope(p[0].Forward(h, _scaling).view(batch, seq, heads, dim).transpose(1, 2), cos, sin);
            var k = Repeat(Rope(p[1].Forward(h, _scaling).view(batch, seq, kv, dim).transpose(1, 2), cos, sin), heads / kv);
            var v = Repeat(p[2].Forward(h, _scaling).view(batch, seq, kv, dim).transpose(1, 2), heads / kv);
            var context = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true).transpose(1, 2).reshape(batch * seq, heads * dim);
            x = x + p[3].Forward(context, _scaling);
            h = RmsNorm(x, layer.PostNorm);
            x = x + p[6].Forward(nn.functional.silu(p[4].Forward(h, _scaling)) * p[5].Forward(h, _scaling), _scaling);
        }

        return RmsNorm(x, _finalNorm).MoveToOuterDisposeScope();
    }

    /// <summary>Frees the weights and factors.</summary>
    public void Dispose()
    {
        foreach (var t in new[] { _embedding, _finalNorm, _cos, _sin }.Concat(_layers.SelectMany(l => new[] { l.InputNorm, l.PostNorm }.Concat(l.Projections.Select(p => p.Weight)))).Concat(_trainable))
        {
            t.Dispose();
        }
    }

    private Tensor RmsNorm(Tensor x, Tensor weight) => weight * (x * (x.square().mean([-1L], keepdim: true) + _eps).rsqrt());

    /// <summary>RoPE in the rotate-half convention: <c>x·cos + rotate_half(x)·sin</c>.</summary>
    internal static Tensor Rope(Tensor x, Tensor cos, Tensor sin)
    {
        var half = x.shape[^1] / 2;
        return (x * cos) + (cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1) * sin);
    }

    /// <summary>transformers' <c>repeat_kv</c>: each kv head repeated <paramref name="repeats"/> times consecutively.</summary>
    internal static Tensor Repeat(Tensor x, int repeats)
    {
        var (batch, kv, seq, dim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        return repeats == 1 ? x : x.unsqueeze(2).expand(batch, kv, repeats, seq, dim).reshape(batch, kv * repeats, seq, dim);
    }

    private sealed record LayerWeights(Tensor InputNorm, Tensor PostNorm, LoraLinear[] Projections);

    /// <summary>A frozen weight plus its LoRA factors: <c>x·Wᵀ + s·(x·Aᵀ)·Bᵀ</c>, the LoRA term added in place with one addmm.</summary>
    private sealed record LoraLinear(Tensor Weight, Parameter A, Parameter B)
    {
        public Tensor Forward(Tensor x, double scaling) => nn.functional.linear(x, Weight).addmm_(matmul(x, A.t()).mul_(scaling), B.t());
    }
}
