using System.Diagnostics;
using PeftSharp.Models.Decoders;
using PeftSharp.Runtime;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Greedy decoding speed of a SmolLM2-135M-shaped Llama (random weights: 30 layers, d 576, 9 heads /
/// 3 KV heads, FFN 1536, vocabulary 49152, tied embeddings) with the KV cache against recomputing
/// the whole prefix every step, at batch 1 and 8, with the base held in fp32 and in bf16.
/// </summary>
public static class DecodeBench
{
    /// <summary>Runs every (dtype, batch) pair; <paramref name="promptLength"/> prompt tokens, <paramref name="newTokens"/> generated; <paramref name="batches"/> null: 1 and 8.</summary>
    public static IReadOnlyList<BenchRecord> Run(TextWriter log, int promptLength = 32, int newTokens = 32, IReadOnlyList<int>? batches = null)
    {
        var records = new List<BenchRecord>();
        var bandwidth = CopyBandwidth();
        records.Add(new BenchRecord("memory copy bandwidth", bandwidth / 1e9, "GB/s", Detail: "a 512 MB float32 tensor copy_ (read + write bytes / time, median of 5); the bound of batch-1 decoding"));
        log.WriteLine(records[^1]);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            manual_seed(0);
            var model = new DecoderForCausalLM(SmolLm2Config(), dtype);
            model.eval();
            foreach (var batch in batches ?? [1, 8])
            {
                var generator = new Generator(1);
                var prompts = Enumerable.Range(0, batch).Select(_ => randint(0, 49152, [promptLength], generator: generator).data<long>().ToArray()).ToList();
                var options = new GenerationOptions { MaxNewTokens = newTokens, BatchSize = batch, EosTokenIds = [] };
                var cached = DecodeSeconds(model, prompts, options);
                var recomputed = DecodeSeconds(model, prompts, options with { UseCache = false });
                var tokens = (double)batch * (newTokens - 1);
                var name = $"decode tokens/s, KV cache / recompute ({(dtype == ScalarType.Float32 ? "fp32" : "bf16")}, batch {batch})";
                records.Add(new BenchRecord(name, recomputed / cached, "ratio", Detail: string.Create(CultureInfo.InvariantCulture,
                    $"KV cache {tokens / cached:F1} tokens/s, recompute {tokens / recomputed:F1} tokens/s ({promptLength}-token prompts, {newTokens} new tokens)")));
                log.WriteLine(records[^1]);
                if (batch == 1)
                {
                    // Each decoded token reads every weight once (the tied embedding as the output head). This VM's
                    // bandwidth moves between about 45 and 75 GB/s over minutes: the limit uses the better of the
                    // run's first measurement and one right after this decode timing.
                    var weightBytes = model.parameters().Sum(p => p.numel() * p.ElementSize);
                    var limitBandwidth = Math.Max(bandwidth, CopyBandwidth());
                    var limit = limitBandwidth / weightBytes;
                    records.Add(new BenchRecord($"decode tokens/s / memory-bandwidth limit ({(dtype == ScalarType.Float32 ? "fp32" : "bf16")}, batch 1)", tokens / cached / limit, "ratio", Detail: string.Create(CultureInfo.InvariantCulture,
                        $"KV cache {tokens / cached:F1} tokens/s; {weightBytes / 1e6:F0} MB of weights per token at {limitBandwidth / 1e9:F1} GB/s (the better of the run's first copy and one after this timing): limit {limit:F1} tokens/s")));
                    log.WriteLine(records[^1]);
                    var (matmuls, head) = MatmulSeconds(model);
                    var step = cached / (newTokens - 1);
                    records.Add(new BenchRecord($"decode step time in its weight matmuls ({(dtype == ScalarType.Float32 ? "fp32" : "bf16")}, batch 1)", matmuls / step, "ratio", Detail: string.Create(CultureInfo.InvariantCulture,
                        $"step {step * 1e3:F2} ms; every weight applied to one token alone {matmuls * 1e3:F2} ms ({weightBytes / matmuls / 1e9:F1} GB/s), of which the output head {head * 1e3:F2} ms; the rest, {(step - matmuls) * 1e3:F2} ms, is the step's other operations and their per-call cost")));
                    log.WriteLine(records[^1]);
                }
            }
        }

        return records;
    }

    /// <summary>
    /// Seconds (median of 5) to apply every 2-D weight of <paramref name="model"/> to one token, one
    /// <see cref="RowLinear"/> call each with libtorch's threads lent as a batch-1 decoding step makes them
    /// (the tied embedding table as the output head), and the output head's share.
    /// </summary>
    private static (double All, double Head) MatmulSeconds(DecoderForCausalLM model)
    {
        using var noGrad = no_grad();
        using var threads = RowLinear.LendThreads();
        var weights = model.parameters().Where(p => p.dim() == 2).ToList();
        var inputs = weights.Select(w => randn(1, 1, w.shape[1], dtype: w.dtype)).ToList();
        double Time(IReadOnlyList<int> indices)
        {
            var times = new List<double>();
            for (var round = 0; round < 6; round++)
            {
                var clock = Stopwatch.StartNew();
                foreach (var i in indices)
                {
                    using var scope = NewDisposeScope();
                    RowLinear.Forward(inputs[i], weights[i]);
                }

                times.Add(clock.Elapsed.TotalSeconds);
            }

            return times.Skip(1).Order().ElementAt(2);
        }

        var all = Time(Enumerable.Range(0, weights.Count).ToList());
        var head = Time([weights.FindIndex(w => w.shape[0] == model.Decoder.VocabSize)]);
        inputs.ForEach(t => t.Dispose());
        return (all, head);
    }

    /// <summary>The SmolLM2-135M shape.</summary>
    public static DecoderConfig SmolLm2Config() => new(new ConfigJson(new JsonObject
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama", ["vocab_size"] = 49152, ["hidden_size"] = 576,
        ["intermediate_size"] = 1536, ["num_hidden_layers"] = 30, ["num_attention_heads"] = 9, ["num_key_value_heads"] = 3,
        ["max_position_embeddings"] = 8192, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 100000.0, ["tie_word_embeddings"] = true,
        ["eos_token_id"] = 0, ["hidden_act"] = "silu",
    }, "SmolLM2-135M-shaped config.json"));

    /// <summary>Bytes per second moved by copying a 512 MB float32 tensor (bytes read + written over the median time of 5).</summary>
    public static double CopyBandwidth()
    {
        using var source = rand(128L << 20);
        using var target = empty_like(source);
        target.copy_(source);
        var times = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            target.copy_(source);
            times.Add(clock.Elapsed.TotalSeconds);
        }

        return 2.0 * source.numel() * source.ElementSize / times.Order().ElementAt(2);
    }

    /// <summary>
    /// Seconds for the decode steps alone (median of 7 after two full warm-up runs, so the steps run as they
    /// do in a long generation, with the JIT's optimised code): generating all tokens minus generating one (the prefill).
    /// </summary>
    private static double DecodeSeconds(DecoderForCausalLM model, List<long[]> prompts, GenerationOptions options)
    {
        DecoderGenerator.Generate(model, prompts, options);
        DecoderGenerator.Generate(model, prompts, options);
        var times = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            var clock = Stopwatch.StartNew();
            DecoderGenerator.Generate(model, prompts, options with { MaxNewTokens = 1 });
            var prefill = clock.Elapsed.TotalSeconds;
            clock.Restart();
            DecoderGenerator.Generate(model, prompts, options);
            times.Add(Math.Max(1e-9, clock.Elapsed.TotalSeconds - prefill));
        }

        return times.Order().ElementAt(3);
    }
}
