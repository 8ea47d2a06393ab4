using PeftSharp.Models.Decoders;

namespace PeftSharp.Benchmarks;

/// <summary>The Llama-style decoder and batch of the decoder engine suite (random weights, tied embeddings).</summary>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Hidden">Hidden size d.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads.</param>
/// <param name="Ffn">MLP inner size.</param>
/// <param name="Vocab">Vocabulary size.</param>
/// <param name="Batch">Sequences per step.</param>
/// <param name="Sequence">Tokens per sequence.</param>
/// <param name="Rank">LoRA rank on each of the seven projections.</param>
public sealed record DecoderBenchShape(int Layers, int Hidden, int Heads, int KvHeads, int Ffn, int Vocab, int Batch, int Sequence, int Rank)
{
    /// <summary>The shape: SmolLM2-135M (30 layers, d 576, 9/3 heads, FFN 1536, vocabulary 49152), batch 4 × 256, LoRA r 16.</summary>
    public static DecoderBenchShape SmolLm2 { get; } = new(30, 576, 9, 3, 1536, 49152, 4, 256, 16);

    /// <summary>The quick suite's shape: 4 layers of the same widths, vocabulary 8192, batch 4 × 128.</summary>
    public static DecoderBenchShape Quick { get; } = new(4, 576, 9, 3, 1536, 8192, 4, 128, 16);

    /// <summary>Per-head width.</summary>
    public int HeadDim => Hidden / Heads;

    /// <summary>Tokens per step.</summary>
    public long Tokens => (long)Batch * Sequence;

    /// <summary>The seven projections of a layer as (in, out), in <see cref="ReferenceDecoder.Projections"/> order.</summary>
    public IReadOnlyList<(long In, long Out)> ProjectionShapes =>
    [
        (Hidden, Heads * HeadDim), (Hidden, KvHeads * HeadDim), (Hidden, KvHeads * HeadDim), (Heads * HeadDim, Hidden),
        (Hidden, Ffn), (Hidden, Ffn), (Ffn, Hidden),
    ];

    /// <summary>
    /// The GEMM FLOPs of one LoRA SFT step, counted exactly (T = batch·S tokens):
    /// <c>layers · [T · Σ_proj (4·in·out + 6·r·(in+out)) + batch · heads · 6 · head_dim · S(S+1)] + 4·T·d·vocab</c>.
    /// A frozen projection costs 2·in·out forward and 2·in·out for its input gradient (no weight
    /// gradient); its LoRA factors 2·r·(in+out) forward and 4·r·(in+out) backward (dA, dB, the
    /// rank-r gradient and its input gradient). Causal attention computes QKᵀ and P·V over the S(S+1)/2
    /// visible pairs per head (2·head_dim FLOPs per pair each, 2·head_dim·S(S+1) together) and twice that in the backward.
    /// The tied LM head costs 2·d·vocab per token forward and 2·d·vocab for the hidden states' gradient.
    /// Norms, RoPE, softmax, the activation and the loss are not GEMMs and are not counted.
    /// </summary>
    public double StepGemmFlops()
    {
        double t = Tokens, r = Rank, s = Sequence;
        var projections = ProjectionShapes.Sum(p => (4.0 * p.In * p.Out) + (6.0 * r * (p.In + p.Out)));
        var attention = (double)Batch * Heads * 6 * HeadDim * s * (s + 1);
        return (Layers * ((t * projections) + attention)) + (4.0 * t * Hidden * Vocab);
    }

    /// <summary>The shape for reports.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Layers} layers d {Hidden}, {Heads}/{KvHeads} heads, FFN {Ffn}, vocab {Vocab}, batch {Batch} × {Sequence}, LoRA r {Rank} on 7 projections");

    /// <summary>The <c>LlamaForCausalLM</c> configuration of this shape (RoPE θ 100000, RMSNorm ε 1e-5, tied embeddings, SiLU).</summary>
    public DecoderConfig Config() => new(new ConfigJson(new JsonObject
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama", ["vocab_size"] = Vocab, ["hidden_size"] = Hidden,
        ["intermediate_size"] = Ffn, ["num_hidden_layers"] = Layers, ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads,
        ["max_position_embeddings"] = Math.Max(2048, Sequence), ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 100000.0, ["tie_word_embeddings"] = true,
        ["eos_token_id"] = 0, ["hidden_act"] = "silu",
    }, "decoder bench config.json"));
}
