using System.Diagnostics;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Where a decoder LoRA step's time goes: each kind of work of the step (frozen projection GEMMs, LoRA
/// factor GEMMs, attention as the step runs it, RoPE (and the GQA repeat where SDPA needs it), RMSNorm, the SwiGLU product, residual adds, the LM
/// head over the vocabulary, its cross-entropy, AdamW) timed on its own at the step's shapes, forward
/// plus backward (gradients of what the step differentiates), times its count per step, printed as a
/// profile beside the measured step; plus the head and loss fused and chunked
/// (<see cref="ChunkedCausalLmLoss"/>) against the head followed by <see cref="CausalLmLoss"/>.
/// </summary>
public static class DecoderStepProfile
{
    /// <summary>Profiles <paramref name="shape"/> against a measured step of <paramref name="stepMs"/> and a large GEMM's <paramref name="gemmFlops"/>; writes the table to <paramref name="log"/>.</summary>
    public static IReadOnlyList<BenchRecord> Run(DecoderBenchShape shape, double stepMs, double gemmFlops, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(log);
        using var scope = NewDisposeScope();
        manual_seed(5);
        var (t, d, r, layers) = (shape.Tokens, (long)shape.Hidden, (long)shape.Rank, shape.Layers);
        var (batch, seq, heads, kv, dim, ffn, vocab) = ((long)shape.Batch, (long)shape.Sequence, (long)shape.Heads, (long)shape.KvHeads, (long)shape.HeadDim, (long)shape.Ffn, (long)shape.Vocab);
        var rows = new List<(string Name, double Ms, double Flops)>();

        double frozenMs = 0, frozenFlops = 0, loraMs = 0, loraFlops = 0;
        foreach (var group in shape.ProjectionShapes.GroupBy(p => p))
        {
            var (inputs, outputs) = group.Key;
            var n = group.Count() * layers;
            var x = randn(t, inputs).requires_grad_();
            var w = randn(outputs, inputs) * 0.02;
            frozenMs += n * Time(() => nn.functional.linear(x, w), [x]);
            frozenFlops += n * 4.0 * t * inputs * outputs;
            var a = (randn(r, inputs) * 0.02).requires_grad_();
            var b = (randn(outputs, r) * 0.02).requires_grad_();
            loraMs += n * Time(() => matmul(matmul(x, a.t()).mul(2.0), b.t()), [x, a, b]);
            loraFlops += n * 6.0 * t * r * (inputs + outputs);
        }

        rows.Add(("frozen projection GEMMs (7 per layer, fwd + input grad)", frozenMs, frozenFlops));
        rows.Add(("LoRA factor GEMMs (7 per layer, fwd + dX, dA, dB)", loraMs, loraFlops));

        // As the step runs it: grouped, block-causal GEMMs up to BlockCausalAttention.MaxSequence (no GQA
        // repeat), SDPA over repeated key-value heads beyond.
        var blocks = seq <= BlockCausalAttention.MaxSequence;
        var q = randn(batch, heads, seq, dim).requires_grad_();
        var k = randn(batch, blocks ? kv : heads, seq, dim).requires_grad_();
        var v = randn(batch, blocks ? kv : heads, seq, dim).requires_grad_();
        var attentionMs = blocks
            ? Time(() => BlockCausalAttention.TryForward(q, k, v, null, causal: true, 0.0)!, [q, k, v])
            : Time(() => nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true), [q, k, v]);
        rows.Add((blocks ? "attention (grouped block-causal GEMMs)" : "attention (SDPA, causal)", layers * attentionMs,
            layers * (double)batch * heads * 6 * dim * seq * (seq + 1)));

        var cos = randn(seq, dim);
        var sin = randn(seq, dim);
        var qIn = randn(batch, seq, heads, dim).requires_grad_();
        var kvIn = randn(batch, seq, kv, dim).requires_grad_();
        var vIn = randn(batch, seq, kv, dim).requires_grad_();
        var repeats = blocks ? 1 : (int)(heads / kv);
        rows.Add((blocks ? "RoPE (q, k)" : "RoPE (q, k) and GQA repeat (k, v)", layers * Time(() => ReferenceDecoder.Rope(qIn.transpose(1, 2), cos, sin).sum() + ReferenceDecoder.Repeat(ReferenceDecoder.Rope(kvIn.transpose(1, 2), cos, sin), repeats).sum() + ReferenceDecoder.Repeat(vIn.transpose(1, 2), repeats).sum(), [qIn, kvIn, vIn]), 0));

        var hidden = randn(t, d).requires_grad_();
        var norm = ones(d);
        rows.Add(("RMSNorm (2 per layer + final)", ((2 * layers) + 1) * Time(() => norm * (hidden * (hidden.square().mean([-1L], keepdim: true) + 1e-5).rsqrt()), [hidden]), 0));
        var gate = randn(t, ffn).requires_grad_();
        var up = randn(t, ffn).requires_grad_();
        rows.Add(("SwiGLU silu(gate)·up", layers * Time(() => nn.functional.silu(gate) * up, [gate, up]), 0));
        var other = randn(t, d).requires_grad_();
        rows.Add(("residual adds (2 per layer)", 2 * layers * Time(() => hidden + other, [hidden, other]), 0));

        var table = randn(vocab, d) * 0.02;
        var final = randn(t, d).requires_grad_();
        rows.Add(("LM head GEMM (tied, fwd + input grad)", Time(() => nn.functional.linear(final, table), [final]), 4.0 * t * d * vocab));
        var ids = randint(0, vocab, [batch, seq]);
        var logits = randn(batch, seq, vocab).requires_grad_();
        rows.Add(($"cross-entropy over {vocab} logits (CausalLmLoss)", Time(() => CausalLmLoss.Compute(logits, ids), [logits]), 0));

        var factors = shape.ProjectionShapes.SelectMany(p => new[] { new TorchSharp.Modules.Parameter(randn(r, p.In)), new TorchSharp.Modules.Parameter(randn(p.Out, r)) }).ToList();
        foreach (var p in factors)
        {
            p.grad = randn_like(p);
        }

        var adam = optim.AdamW(factors, lr: 1e-4);
        rows.Add(("AdamW over the LoRA factors", layers * TimeAction(() => adam.step()), 0));

        var sum = rows.Sum(row => row.Ms);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"profile of one step ({shape.Describe()}); measured step {stepMs:F0} ms; each part timed alone at the step's shapes:"));
        foreach (var (name, ms, flops) in rows)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-58} {ms,9:F1} ms  {100 * ms / stepMs,5:F1} %{(flops > 0 ? $"  {flops / (ms / 1000) / 1e9,6:F1} GFLOP/s ({flops / (ms / 1000) / gemmFlops:F2} of the 2048² GEMM)" : string.Empty)}"));
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"sum of the parts",-58} {sum,9:F1} ms  {100 * sum / stepMs,5:F1} %"));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"rest (autograd, copies, casts, embedding gather, loss bookkeeping)",-58} {stepMs - sum,9:F1} ms  {100 * (stepMs - sum) / stepMs,5:F1} %"));

        double Part(string prefix) => rows.Single(row => row.Name.StartsWith(prefix, StringComparison.Ordinal)).Ms;
        var (gemm, entropy) = (Part("LM head"), Part("cross-entropy"));
        var head = gemm + entropy;
        var records = new List<BenchRecord>
        {
            new("decoder step: LM head + cross-entropy share of the step", head / stepMs, "fraction",
                Detail: string.Create(CultureInfo.InvariantCulture, $"{head:F0} ms of {stepMs:F0} ms ({gemm:F0} ms GEMM, {entropy:F0} ms cross-entropy over {vocab}); parts timed alone: {sum:F0} ms; attention {Part("attention"):F0} ms, norms {Part("RMSNorm"):F0} ms"))
        };
        log.WriteLine(records[^1]);

        records.Add(CompareLoss(shape, 5, ChunkedCausalLmLoss.DefaultChunkTokens));
        log.WriteLine(records[^1]);
        return records;
    }

    /// <summary>
    /// The LM head and loss, forward and backward, fused and chunked (<see cref="ChunkedCausalLmLoss"/>,
    /// <paramref name="chunkTokens"/> tokens a chunk) against the head's full logits followed by
    /// <see cref="CausalLmLoss"/>, side by side over <paramref name="rounds"/> rounds.
    /// </summary>
    public static BenchRecord CompareLoss(DecoderBenchShape shape, int rounds, int chunkTokens)
    {
        ArgumentNullException.ThrowIfNull(shape);
        using var scope = NewDisposeScope();
        manual_seed(6);
        var (t, vocab) = (shape.Tokens, (long)shape.Vocab);
        var table = randn(vocab, shape.Hidden) * 0.02;
        var ids = randint(0, vocab, [shape.Batch, shape.Sequence]);
        var hidden = randn(shape.Batch, shape.Sequence, shape.Hidden).requires_grad_();
        Action unchunked = () =>
        {
            using var step = NewDisposeScope();
            autograd.grad([CausalLmLoss.Compute(nn.functional.linear(hidden, table), ids)], [hidden]);
        };
        Action chunked = () =>
        {
            using var step = NewDisposeScope();
            autograd.grad([ChunkedCausalLmLoss.Compute(hidden, table, ids, chunkTokens)], [hidden]);
        };
        var (ratio, chunkedMs, unchunkedMs) = SideBySide.Compare(rounds, 1, chunked, unchunked, warmup: 1);
        var logitsMb = (t - shape.Batch) * vocab * 4 / 1e6;
        return new BenchRecord("decoder LM head + loss: chunked / unchunked (fwd + bwd)", ratio, "ratio",
            Detail: string.Create(CultureInfo.InvariantCulture, $"{chunkedMs:F0} ms vs {unchunkedMs:F0} ms; chunks of {chunkTokens} tokens ({chunkTokens * vocab * 4 / 1e6:F0} MB of fp32 logits at a time) instead of {t - shape.Batch} tokens' logits, log-softmax and gradient ({logitsMb:F0} MB each); vocabulary {vocab}"));
    }

    /// <summary>
    /// A decoder layer's causal self-attention at <paramref name="shape"/>'s heads and batch and
    /// <paramref name="sequence"/> positions, forward and backward, as the training step runs it
    /// (<see cref="BlockCausalAttention"/>: grouped query heads, 64-position blocks) against SDPA over key-value
    /// heads repeated per query head (what runs beyond <see cref="BlockCausalAttention.MaxSequence"/>), side by
    /// side over <paramref name="rounds"/> rounds of 5 calls.
    /// </summary>
    public static BenchRecord CompareAttention(DecoderBenchShape shape, int rounds, int sequence)
    {
        ArgumentNullException.ThrowIfNull(shape);
        using var scope = NewDisposeScope();
        manual_seed(7);
        var (batch, heads, kv, dim) = ((long)shape.Batch, (long)shape.Heads, (long)shape.KvHeads, (long)shape.HeadDim);
        var q = randn(batch, sequence, heads, dim).transpose(1, 2).requires_grad_();
        var k = randn(batch, kv, sequence, dim).requires_grad_();
        var v = randn(batch, kv, sequence, dim).requires_grad_();
        var grad = randn(batch, sequence, heads * dim);
        var repeats = (int)(heads / kv);
        Action blocks = () =>
        {
            using var call = NewDisposeScope();
            var output = BlockCausalAttention.TryForward(q, k, v, null, causal: true, 0.0)
                ?? throw new InvalidOperationException($"sequence {sequence} is beyond the block path's {BlockCausalAttention.MaxSequence}");
            autograd.grad([output], [q, k, v], [grad]);
        };
        Action sdpa = () =>
        {
            using var call = NewDisposeScope();
            var context = nn.functional.scaled_dot_product_attention(q, ReferenceDecoder.Repeat(k, repeats), ReferenceDecoder.Repeat(v, repeats), null, 0.0, true);
            autograd.grad([context.transpose(1, 2).reshape(batch, sequence, heads * dim)], [q, k, v], [grad]);
        };
        var (ratio, blockMs, sdpaMs) = SideBySide.Compare(rounds, 5, blocks, sdpa);
        var savedMb = (double)batch * heads * sequence * (sequence + BlockCausalAttention.BlockPositions) / 2 * 4 / 1e6;
        return new BenchRecord($"decoder attention, sequence {sequence}: block-causal GEMMs / SDPA (fwd + bwd)", ratio, "ratio",
            Detail: string.Create(CultureInfo.InvariantCulture, $"{blockMs:F2} ms vs {sdpaMs:F2} ms per layer; batch {batch}, {heads}/{kv} heads, head dim {dim}; the block path keeps about {savedMb:F0} MB of probabilities per layer for the backward"));
    }

    /// <summary>Median milliseconds of forward plus the gradients of <paramref name="inputs"/> (a fixed random output gradient; nothing accumulates), over 3 runs after one warm-up.</summary>
    private static double Time(Func<Tensor> forward, Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        var first = forward();
        var grad = first.numel() == 1 ? ones_like(first) : randn_like(first);
        autograd.grad([first], inputs, [grad]);
        return TimeAction(() =>
        {
            using var run = NewDisposeScope();
            autograd.grad([forward()], inputs, [grad]);
        });
    }

    /// <summary>Median milliseconds of <paramref name="action"/> over 3 runs after one warm-up.</summary>
    private static double TimeAction(Action action)
    {
        action();
        var times = new List<double>();
        var clock = new Stopwatch();
        for (var i = 0; i < 3; i++)
        {
            clock.Restart();
            action();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        return SideBySide.Median(times);
    }
}
