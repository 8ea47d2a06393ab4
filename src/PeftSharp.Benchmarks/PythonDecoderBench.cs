using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// PeftSharp's LoRA SFT step on a Llama decoder against the same step in PyTorch
/// (<c>bench/python/decoder_lora_step.py</c>, a hand-written Llama forward in plain torch ops) on the
/// same weights and batch, which PeftSharp writes to a safetensors file: LoRA r 16 (alpha 32, dropout 0)
/// on all seven projections, causal-LM loss over every token, gradient clipping at 1, AdamW. The
/// Python process stays up and the two steps alternate round by round; the first losses must agree.
/// </summary>
public static class PythonDecoderBench
{
    /// <summary>The projections adapted (Llama's attention and MLP linears).</summary>
    public static readonly IReadOnlyList<string> Projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    private const int Batch = 4, Length = 256, Rank = 16;
    private const double LearningRate = 2e-4, MaxGradNorm = 1.0;

    /// <summary>The SmolLM2-135M shape of issue 25: 30 layers, d 576, 9 heads / 3 KV heads, FFN 1536, vocabulary 49152, RoPE θ 10,000, tied embeddings.</summary>
    public static DecoderShape SmolLm2Shape { get; } = new(49152, 576, 30, 9, 3, 1536, 8192, BosTokenId: 0, EosTokenIds: [2], PadTokenId: 1);

    /// <summary>
    /// Runs the comparison on the SmolLM2-135M shape (random N(0, 0.02) weights), or with
    /// <paramref name="small"/> on the bundled 4-layer decoder (<c>models/decoder</c>), over
    /// <paramref name="rounds"/> alternating rounds.
    /// </summary>
    /// <exception cref="PeftException">PyTorch is not installed, or the script failed.</exception>
    public static IReadOnlyList<BenchRecord> Run(string root, bool small, int rounds, TextWriter log)
    {
        var script = Path.Combine(root, "bench", "python", "decoder_lora_step.py");
        if (!PythonBench.IsAvailable())
        {
            throw new PeftException($"PyTorch is not installed for {PythonBench.Interpreter}: run 'bash bench/python/setup.sh' first (Debian's python3-torch and libopenblas0-pthread)");
        }

        manual_seed(0);
        var model = small ? (DecoderForCausalLM)PretrainedModel.FromPretrained(Path.Combine(root, "models", "decoder")) : LlamaArchitecture.Instance.Create(SmolLm2Shape);
        var config = model.Decoder;
        var peft = PeftModel.Create(model, Adapter());
        var ids = randint(0, config.VocabSize, [Batch, Length]);
        MakeAdaptersLive(peft);
        var step = Step(model, peft, ids);
        double loss0;
        using (no_grad())
        {
            loss0 = CausalLmLoss.Compute(model.Forward(ids), ids).item<float>();
        }

        var file = Path.Combine(Path.GetTempPath(), $"peftsharp-python-decoder-bench-{Environment.ProcessId}.safetensors");
        Export(file, model, peft, ids);
        try
        {
            using var python = PythonStepProcess.Start(PythonBench.Interpreter, script, file);
            var ready = python.Ready;
            var pythonLoss0 = ready["loss0"]!.GetValue<double>();
            var version = $"PyTorch {ready["torch"]} ({ready["blas"]}, {ready["threads"]} threads)";
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"first loss: PeftSharp {loss0:F6}, PyTorch {pythonLoss0:F6}; {version}"));
            var (csharpMs, pythonMs, csharpLosses, pythonLosses) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
            var iterations = small ? 3 : 1;
            var (csharpCpu, pythonCpu) = (new List<double>(), new List<double>());
            using var self = Process.GetCurrentProcess();
            void CSharpRound(bool timed)
            {
                self.Refresh();
                var cpu = self.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < iterations; i++)
                {
                    csharpLosses.Add(step());
                }

                self.Refresh();
                if (timed)
                {
                    csharpMs.Add(clock.Elapsed.TotalMilliseconds / iterations);
                    csharpCpu.Add((self.TotalProcessorTime - cpu).TotalMilliseconds / iterations);
                }
            }

            void PythonRound(bool timed)
            {
                double total = 0, cpu = 0;
                for (var i = 0; i < iterations; i++)
                {
                    var reply = python.Send("step");
                    total += reply["ms"]!.GetValue<double>();
                    cpu += reply["cpu_ms"]!.GetValue<double>();
                    pythonLosses.Add(reply["loss"]!.GetValue<double>());
                }

                if (timed)
                {
                    pythonMs.Add(total / iterations);
                    pythonCpu.Add(cpu / iterations);
                }
            }

            // PeftSharp's heap grows over its first steps; both sides are timed in their steady state.
            var warm = SideBySide.WarmUntilSteady([() => CSharpRound(timed: false)]);
            PythonRound(timed: false);
            log.WriteLine($"warm-up: PeftSharp {warm} rounds (until its heap stopped growing), PyTorch 1 round");
            for (var round = 0; round < rounds; round++)
            {
                if (round % 2 == 0)
                {
                    CSharpRound(timed: true);
                    PythonRound(timed: true);
                }
                else
                {
                    PythonRound(timed: true);
                    CSharpRound(timed: true);
                }

                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}: PeftSharp {csharpMs[^1]:F0} ms ({csharpCpu[^1]:F0} ms CPU), PyTorch {pythonMs[^1]:F0} ms ({pythonCpu[^1]:F0} ms CPU) per step"));
            }

            var (cs, py) = (SideBySide.Median(csharpMs), SideBySide.Median(pythonMs));
            var (csCpu, pyCpu) = (SideBySide.Median(csharpCpu), SideBySide.Median(pythonCpu));
            // The two sides warmed up for different numbers of steps: compare the losses after the same number of updates.
            var updates = Math.Min(csharpLosses.Count, pythonLosses.Count) - 1;
            var lastDelta = Math.Abs(csharpLosses[updates] - pythonLosses[updates]);
            var shape = string.Create(CultureInfo.InvariantCulture,
                $"{config.NumHiddenLayers} layers d {config.HiddenSize}, {config.NumAttentionHeads}/{config.NumKeyValueHeads} heads, FFN {config.IntermediateSize}, vocab {config.VocabSize}, batch {Batch} × {Length}, LoRA r {Rank} on 7 projections, AdamW; {version}");
            var records = new List<BenchRecord>
            {
                new("PeftSharp decoder LoRA SFT step / PyTorch step", cs / py, "ratio", 0.35, Detail: string.Create(CultureInfo.InvariantCulture, $"{cs:F1} ms vs {py:F1} ms ({Batch * Length * 1000.0 / cs:F0} vs {Batch * Length * 1000.0 / py:F0} tokens/s); {shape}")),
                new("PeftSharp decoder LoRA SFT step / PyTorch step, CPU time (all threads)", csCpu / pyCpu, "ratio", Detail: string.Create(CultureInfo.InvariantCulture, $"{csCpu / 1000:F1} s vs {pyCpu / 1000:F1} s of CPU per step (robust to a shared machine's contention, but counts spin-waiting threads)")),
                new("|first decoder loss PeftSharp − PyTorch| (same weights and batch)", Math.Abs(loss0 - pythonLoss0), "abs", 1e-4, Detail: string.Create(CultureInfo.InvariantCulture,
                    $"{loss0:F6} vs {pythonLoss0:F6}; after {updates} updates {csharpLosses[updates]:F6} vs {pythonLosses[updates]:F6} (|Δ| {lastDelta:G2})")),
            };
            records.ForEach(log.WriteLine);
            return records;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The adapter: the step-time baseline (LoRA) at rank 16 with alpha 32 and dropout 0 on all seven projections.</summary>
    public static AdapterConfig Adapter()
    {
        var adapter = MethodStepBench.Baseline(Rank, TargetModules.FromNames([.. Projections]));
        adapter.ModulesToSave = null;
        if (adapter is LowRankConfig lowRank)
        {
            lowRank.LoraAlpha = 2 * Rank;
            lowRank.LoraDropout = 0;
        }

        return adapter;
    }

    /// <summary>
    /// Writes what the Python script reads: the PEFT model's state dict, the batch as <c>batch/ids</c>,
    /// and in the metadata the decoder's resolved <c>config</c> (JSON), the LoRA <c>scaling</c>, the torch
    /// <c>threads</c> and the optimizer settings (<c>lr</c>, <c>weight_decay</c>, <c>max_grad_norm</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The decoder is not a plain Llama (the script implements no other), or no module is adapted.</exception>
    public static void Export(string path, DecoderForCausalLM model, PeftModel peft, Tensor ids)
    {
        var config = model.Decoder;
        if (config.Family != DecoderFamily.Llama || config.Rope.Kind != RopeKind.Default || !config.TieWordEmbeddings || config.HiddenAct != "silu" || config.RotaryDim != config.HeadDim)
        {
            throw new ArgumentException($"the Python step implements a Llama with tied embeddings, SiLU and default RoPE over the whole head; got {config.ArchitectureName}", nameof(model));
        }

        if (peft.AdaptedModules.Count == 0)
        {
            throw new ArgumentException("no module is adapted", nameof(peft));
        }

        var scaling = peft.AdaptedModules[0].Layer.GetPath(peft.ActiveAdapter).Scaling;
        var json = new JsonObject
        {
            ["num_hidden_layers"] = config.NumHiddenLayers,
            ["num_attention_heads"] = config.NumAttentionHeads,
            ["num_key_value_heads"] = config.NumKeyValueHeads,
            ["hidden_size"] = config.HiddenSize,
            ["head_dim"] = config.HeadDim,
            ["rms_norm_eps"] = config.RmsNormEps,
            ["rope_theta"] = config.Rope.Theta,
            ["tie_word_embeddings"] = true,
            ["hidden_act"] = config.HiddenAct,
        };
        var metadata = new Dictionary<string, string>
        {
            ["config"] = json.ToJsonString(),
            ["scaling"] = scaling.ToString("R", CultureInfo.InvariantCulture),
            ["threads"] = get_num_threads().ToString(CultureInfo.InvariantCulture),
            ["lr"] = LearningRate.ToString("R", CultureInfo.InvariantCulture),
            ["weight_decay"] = "0",
            ["max_grad_norm"] = MaxGradNorm.ToString("R", CultureInfo.InvariantCulture),
        };
        using var scope = NewDisposeScope();
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.contiguous());
        tensors["batch/ids"] = ids.to(ScalarType.Int64).contiguous();
        SafetensorsWriter.Save(path, tensors, metadata);
    }

    /// <summary>B starts at zero; a small random B makes the adapters contribute, so the loss check covers their math.</summary>
    private static void MakeAdaptersLive(PeftModel peft)
    {
        using var noGrad = no_grad();
        foreach (var parameter in peft.Model.named_parameters().Where(p => p.name.Contains("lora_B", StringComparison.Ordinal)))
        {
            parameter.parameter.normal_(0, 0.02);
        }
    }

    /// <summary>One SFT step as the trainer runs it: forward, causal-LM loss (every token supervised), backward, clipping, AdamW, zero grad; returns the loss.</summary>
    private static Func<double> Step(DecoderForCausalLM model, PeftModel peft, Tensor ids)
    {
        var parameters = peft.GetTrainableParameters();
        var optimizer = optim.AdamW(parameters, lr: LearningRate, weight_decay: 0);
        model.train();
        return () =>
        {
            using var scope = NewDisposeScope();
            var loss = CausalLmLoss.Compute(model.Forward(ids), ids);
            double value = loss.item<float>();
            loss.backward();
            nn.utils.clip_grad_norm_(parameters, MaxGradNorm);
            optimizer.step();
            optimizer.zero_grad();
            return value;
        };
    }
}
