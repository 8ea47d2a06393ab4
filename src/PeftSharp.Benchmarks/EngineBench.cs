using System.Diagnostics;
using PeftSharp.Adapters;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// PeftSharp against its own engine: the LoRA training step of the encoder through PeftSharp (model
/// classes, adapter layers, controller hooks, AdamW) against the same step written directly against
/// TorchSharp with no PeftSharp types (<see cref="ReferenceEncoder"/>); and the step's achieved GEMM
/// FLOP/s against a large square GEMM's, measured in the same run.
/// </summary>
public static class EngineBench
{
    /// <summary>Runs both comparisons on a <paramref name="layers"/> × <paramref name="hidden"/> encoder, batch 8 × 128, dropout 0.</summary>
    public static IReadOnlyList<BenchRecord> Run(int layers, int hidden, int rounds, TextWriter log)
    {
        const int batch = 8, seq = 128, rank = 8;
        var config = ModelThroughput.EncoderConfig(layers, hidden, hidden / 64, dropout: 0);
        var ids = randint(0, 8000, [batch, seq]);
        var labels = randint(0, 4, [batch]);
        var peft = MethodStepBench.Step(config, ids, labels, MethodStepBench.Baseline(rank));
        manual_seed(0);
        using var reference = new ReferenceEncoder(layers, hidden, hidden / 64, 4 * hidden, 8000, 512, 4, rank, 2.0);
        var (ratio, peftMs, refMs) = SideBySide.Compare(rounds, 2, peft, reference.Step(ids, labels));
        var shape = $"{layers} layers d {hidden}, batch {batch} × {seq}, LoRA r {rank} on query+value, dropout 0";
        var records = new List<BenchRecord>
        {
            new("PeftSharp LoRA step / hand-written TorchSharp step", ratio, "ratio", 1.05, Detail: FormattableString.Invariant($"{peftMs:F1} ms vs {refMs:F1} ms; {shape}")),
        };
        log.WriteLine(records[^1]);

        // GEMM FLOPs of one step: per layer forward 24·T·d² (q, k, v, o, FFN in/out) + 4·T·n·d (QKᵀ, AV);
        // backward needs input gradients only for the frozen weights (the same 24·T·d²) and twice the
        // attention products (8·T·n·d). LoRA, pooler and classifier GEMMs are below 0.5 % and left out.
        double t = batch * seq, d = hidden, n = seq;
        var flops = layers * (48 * t * d * d + 12 * t * n * d);
        var stepFlops = flops / (peftMs / 1000);
        var gemm = LargeGemmFlops(2048, rounds);
        records.Add(new BenchRecord("encoder training step FLOP/s / large-GEMM FLOP/s", stepFlops / gemm, "ratio", 0.75, AtLeast: true,
            Detail: FormattableString.Invariant($"step {stepFlops / 1e9:F1} GFLOP/s ({flops / 1e9:F0} GFLOP per step), 2048² GEMM {gemm / 1e9:F1} GFLOP/s; {shape}")));
        log.WriteLine(records[^1]);
        return records;
    }

    /// <summary>FLOP/s of an <paramref name="size"/>² × <paramref name="size"/>² float32 matmul (median of rounds).</summary>
    public static double LargeGemmFlops(int size, int rounds)
    {
        var a = randn(size, size);
        var b = randn(size, size);
        using (NewDisposeScope())
        {
            matmul(a, b);
        }

        var times = new List<double>();
        var clock = new Stopwatch();
        for (var i = 0; i < Math.Max(3, rounds); i++)
        {
            using var scope = NewDisposeScope();
            clock.Restart();
            matmul(a, b);
            times.Add(clock.Elapsed.TotalSeconds);
        }

        return 2.0 * size * size * size / SideBySide.Median(times);
    }
}

/// <summary>
/// The reference: a BERT-style sequence classifier and its LoRA (q, v) training step written directly
/// against TorchSharp tensors and functions — no PeftSharp model, adapter, controller or trainer types.
/// </summary>
public sealed class ReferenceEncoder : IDisposable
{
    private readonly int _heads;
    private readonly double _scaling;
    private readonly Tensor _words, _positions, _types, _embNormW, _embNormB, _poolW, _poolB;
    private readonly List<Tensor[]> _layers = [];
    private readonly List<Parameter> _trainable = [];
    private readonly Parameter _classW, _classB;

    /// <summary>Creates random frozen weights and LoRA factors (A random, B random so gradients flow everywhere).</summary>
    public ReferenceEncoder(int layers, int hidden, int heads, int ffn, int vocab, int positions, int labels, int rank, double scaling)
    {
        _heads = heads;
        _scaling = scaling;
        Tensor W(int o, int i) => randn(o, i) * 0.02;
        _words = W(vocab, hidden);
        _positions = W(positions, hidden);
        _types = W(2, hidden);
        (_embNormW, _embNormB) = (ones(hidden), zeros(hidden));
        for (var l = 0; l < layers; l++)
        {
            var aq = new Parameter(randn(rank, hidden) * 0.02);
            var bq = new Parameter(randn(hidden, rank) * 0.02);
            var av = new Parameter(randn(rank, hidden) * 0.02);
            var bv = new Parameter(randn(hidden, rank) * 0.02);
            _trainable.AddRange([aq, bq, av, bv]);
            _layers.Add(
            [
                W(hidden, hidden), zeros(hidden), aq, bq, // query + LoRA
                W(hidden, hidden), zeros(hidden), // key
                W(hidden, hidden), zeros(hidden), av, bv, // value + LoRA
                W(hidden, hidden), zeros(hidden), ones(hidden), zeros(hidden), // attention output + LayerNorm
                W(ffn, hidden), zeros(ffn), W(hidden, ffn), zeros(hidden), ones(hidden), zeros(hidden), // FFN + LayerNorm
            ]);
        }

        (_poolW, _poolB) = (W(hidden, hidden), zeros(hidden));
        _classW = new Parameter(W(labels, hidden));
        _classB = new Parameter(zeros(labels));
        _trainable.AddRange([_classW, _classB]);
    }

    /// <summary>One training step: forward, cross-entropy, backward, AdamW on the LoRA factors and the classifier, zero grad.</summary>
    public Action Step(Tensor ids, Tensor labels)
    {
        var optimizer = optim.AdamW(_trainable, lr: 1e-4);
        return () =>
        {
            using var scope = NewDisposeScope();
            nn.functional.cross_entropy(Forward(ids), labels).backward();
            optimizer.step();
            optimizer.zero_grad();
        };
    }

    private Tensor Forward(Tensor ids)
    {
        var (batch, seq) = (ids.shape[0], ids.shape[1]);
        var hidden = _words.shape[1];
        var h = _words[ids] + _positions[..(int)seq] + _types[0];
        h = nn.functional.layer_norm(h, [hidden], _embNormW, _embNormB, 1e-12).view(batch * seq, hidden);
        foreach (var p in _layers)
        {
            Tensor Lora(Tensor x, Tensor w, Tensor b, Tensor a, Tensor up) => nn.functional.linear(x, w, b).addmm_(matmul(x, a.t()).mul_(_scaling), up.t());
            Tensor Heads(Tensor x) => x.view(batch, seq, _heads, hidden / _heads).transpose(1, 2);
            var q = Lora(h, p[0], p[1], p[2], p[3]);
            var k = nn.functional.linear(h, p[4], p[5]);
            var v = Lora(h, p[6], p[7], p[8], p[9]);
            var context = nn.functional.scaled_dot_product_attention(Heads(q), Heads(k), Heads(v)).transpose(1, 2).reshape(batch * seq, hidden);
            h = nn.functional.layer_norm(nn.functional.linear(context, p[10], p[11]) + h, [hidden], p[12], p[13], 1e-12);
            var f = nn.functional.linear(nn.functional.gelu(nn.functional.linear(h, p[14], p[15])), p[16], p[17]);
            h = nn.functional.layer_norm(f + h, [hidden], p[18], p[19], 1e-12);
        }

        var pooled = nn.functional.linear(h.view(batch, seq, hidden)[.., 0], _poolW, _poolB).tanh();
        return nn.functional.linear(pooled, _classW, _classB);
    }

    /// <summary>Frees the frozen weights, the LoRA factors and the classifier.</summary>
    public void Dispose()
    {
        foreach (var tensor in new[] { _words, _positions, _types, _embNormW, _embNormB, _poolW, _poolB, _classW, _classB }.Concat(_layers.SelectMany(l => l)).Concat(_trainable))
        {
            tensor.Dispose();
        }
    }
}
