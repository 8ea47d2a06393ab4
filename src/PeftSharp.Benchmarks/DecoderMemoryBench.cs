using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Memory of decoder fine-tuning (issue 25). Each LoRA SFT step run (r 16 on all seven projections,
/// AdamW, random weights and full rows of random tokens) is a child process, so its peak resident set
/// (<c>VmHWM</c>) is its own; the variants compared alternate in rounds of children and each figure is a
/// ratio of two runs of the same suite:
/// <list type="bullet">
/// <item>a bf16 frozen base against an fp32 one (peak RSS and step time) at the SmolLM2-135M shape
/// (sequence 256, batch 4), and peak RSS at the Llama-3.2-1B shape (batch 1);</item>
/// <item>activation checkpointing at sequence 1024: activation memory (peak RSS minus the RSS once the
/// model, adapter, gradients and AdamW state exist) and step time against the plain run;</item>
/// <item>a long causal-LM run of the bundled decoder through the real <see cref="TrainingLoop"/>
/// (RSS growth and live tensors, <see cref="MemoryBench.Track"/>).</item>
/// </list>
/// </summary>
public static class DecoderMemoryBench
{
    /// <summary>The command-line switch that makes <c>peft bench</c> a measured child (followed by its <see cref="DecoderStepSpec"/> as JSON).</summary>
    public const string ChildSwitch = "--decoder-memory-child";

    /// <summary>The SmolLM2-135M shape's name in a <see cref="DecoderStepSpec"/>.</summary>
    public const string SmolLm2 = "smollm2-135m";

    /// <summary>The Llama-3.2-1B shape's name in a <see cref="DecoderStepSpec"/>.</summary>
    public const string Llama1B = "llama-3.2-1b";

    private const string ResultPrefix = "decoder-step ";

    /// <summary>The parts of the suite, in the order they run.</summary>
    public static readonly IReadOnlyList<string> Parts = ["bf16", "bf16-1b", "checkpointing", "long-run"];

    /// <summary>The command that starts a child in the running <c>peft</c>: <c>peft bench --decoder-memory-child</c>.</summary>
    public static IReadOnlyList<string> PeftChildCommand() => ChildProcess.Command("bench", ChildSwitch);

    /// <summary>Runs the suite's <see cref="DecoderMemoryOptions.Parts"/>, each child started with <paramref name="childCommand"/> followed by its spec.</summary>
    /// <exception cref="PeftConfigurationException">An unknown part is named.</exception>
    public static IReadOnlyList<BenchRecord> Run(IReadOnlyList<string> childCommand, string root, DecoderMemoryOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (options.Parts?.FirstOrDefault(p => !Parts.Contains(p)) is { } unknown)
        {
            throw new PeftConfigurationException($"unknown decoder-memory part '{unknown}' (parts: {string.Join(", ", Parts)})");
        }

        bool Wanted(string part) => options.Parts?.Contains(part) ?? true;
        var (rounds, steps) = (options.Rounds, options.Steps);
        var records = new List<BenchRecord>();
        void Add(BenchRecord record)
        {
            records.Add(record);
            log.WriteLine(record);
        }

        // 1. bf16 frozen base against fp32 (SmolLM2-135M, sequence 256, batch 4), scored with the trainer's
        // loss (ChunkedCausalLmLoss: the head's logits never whole), as peft train's step runs.
        if (Wanted("bf16"))
        {
            var fp32 = new DecoderStepSpec(SmolLm2, "fp32", 256, 4, false, steps, FusedLoss: true);
            var small = Alternate(childCommand, rounds, options.Parallel, log, fp32, fp32 with { Dtype = "bf16" });
            Add(PeakRecord("bf16 base / fp32 base: peak RSS (LoRA SFT step, SmolLM2-135M shape)", small[1], small[0], 0.6));
            Add(TimeRecord("bf16 base / fp32 base: step time (SmolLM2-135M shape)", small[1], small[0], null));
        }

        // The 1B shape: memory only, one child each at batch 1.
        if (Wanted("bf16-1b"))
        {
            var large32 = new DecoderStepSpec(Llama1B, "fp32", options.LargeSequenceLength, 1, false, Math.Min(steps, 2));
            var large = Alternate(childCommand, 1, options.Parallel, log, large32, large32 with { Dtype = "bf16" });
            Add(PeakRecord("bf16 base / fp32 base: peak RSS (LoRA SFT step, Llama-3.2-1B shape)", large[1], large[0], 0.6));
        }

        // 2. Activation checkpointing at sequence 1024 (fp32 base, batch 1).
        if (Wanted("checkpointing"))
        {
            // With the loss over whole logits (CausalLmLoss) and with the trainer's fused head loss (ChunkedCausalLmLoss).
            var plain = new DecoderStepSpec(SmolLm2, "fp32", 1024, 1, false, steps, FusedLoss: true);
            DecoderStepSpec[] specs = [plain, plain with { GradientCheckpointing = true }, plain with { FusedLoss = false }, plain with { FusedLoss = false, GradientCheckpointing = true }];
            var all = Alternate(childCommand, rounds, options.Parallel, log, specs);
            for (var pair = 0; pair < 2; pair++)
            {
                var fused = specs[2 * pair].FusedLoss;
                var runs = all[(2 * pair)..(2 * pair + 2)];
                var (plainActivations, checkpointedActivations) = (Activations(runs[0]), Activations(runs[1]));
                var loss = fused ? "fused head loss" : "loss over whole logits";
                Add(new BenchRecord($"gradient checkpointing / plain: activation memory (SmolLM2-135M shape, sequence 1024, {loss})", checkpointedActivations / plainActivations, "ratio", fused ? 1.0 / 3 : null,
                    Detail: string.Create(CultureInfo.InvariantCulture, $"peak RSS − RSS after setup: {checkpointedActivations / 1e6:F0} MB vs {plainActivations / 1e6:F0} MB ({Describe(runs[1])} vs {Describe(runs[0])}); first loss {runs[1][0].FirstLoss:F4} vs {runs[0][0].FirstLoss:F4}")));
                Add(TimeRecord($"gradient checkpointing / plain: step time (SmolLM2-135M shape, sequence 1024, {loss})", runs[1], runs[0], fused ? 1.35 : null));
            }
        }

        // 3. A long causal-LM run through the trainer.
        if (Wanted("long-run"))
        {
            records.AddRange(LongRun(root, options.TrainerSteps, log));
        }

        return records;
    }

    /// <summary>
    /// RSS growth and live tensors over <paramref name="steps"/> steps of LoRA SFT on the bundled decoder
    /// (<c>models/decoder</c>, <c>data/g2p</c>, batch 8, the causal-LM preset of LoRA) through
    /// <see cref="CausalLmSetup"/> and <see cref="TrainingLoop"/>, as <c>peft train</c> runs it.
    /// </summary>
    public static IReadOnlyList<BenchRecord> LongRun(string root, int steps, TextWriter log, int batchSize = 8)
    {
        var baseDirectory = Path.Combine(root, "models", "decoder");
        var trainPath = Path.Combine(root, "data", "g2p", "train.jsonl");
        var encoder = CausalLmSetup.Encoder(baseDirectory, trainPath, 64);
        var train = SftDataset.Load(trainPath, encoder);
        var method = AdapterMethodRegistry.Find("lora") ?? throw new PeftConfigurationException("the lora method is not registered");
        manual_seed(0);
        var model = CausalLmSetup.LoadDecoder(baseDirectory);
        var peft = CausalLmSetup.CreateAdapter(model, method, steps, baseDirectory);
        var options = new TrainerOptions { MaxSteps = steps, BatchSize = batchSize, MaxLength = 64, LogEvery = 0 };
        options = options with { LearningRate = CausalLmSetup.LearningRate(method, null) };
        var task = CausalLmSetup.CreateTask(model, train.Examples, null, encoder.PadTokenId, options);
        return MemoryBench.Track("causal LM, bundled decoder", steps, progress =>
            new TrainingLoop(task, options, ParameterGroups.ForAdapter(peft, options), peft, null, progress).Run(), log);
    }

    /// <summary>
    /// The child: builds the model of <paramref name="specJson"/> (a <see cref="DecoderStepSpec"/>) with LoRA
    /// and AdamW, runs its steps and prints <c>decoder-step {json}</c> (a <see cref="DecoderStepResult"/>).
    /// </summary>
    /// <exception cref="PeftConfigurationException">The spec is not valid JSON of a known shape and dtype.</exception>
    public static void Child(string specJson, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        DecoderStepSpec spec;
        try
        {
            spec = JsonSerializer.Deserialize(specJson, DecoderMemoryJsonContext.Default.DecoderStepSpec)
                ?? throw new PeftConfigurationException($"{ChildSwitch}: expected a step spec object, got null");
        }
        catch (JsonException e)
        {
            throw new PeftConfigurationException($"{ChildSwitch}: expected a step spec as JSON ({e.Message})");
        }

        using var warm = zeros(1);
        manual_seed(0);
        var config = spec.Shape switch
        {
            SmolLm2 => DecodeBench.SmolLm2Config(),
            Llama1B => new DecoderConfig(new ConfigJson(LoadBench.Llama1BConfigJson(), "Llama-3.2-1B-shaped config.json")),
            _ => throw new PeftConfigurationException($"{ChildSwitch}: shape must be {SmolLm2} or {Llama1B}, got '{spec.Shape}'"),
        };
        var dtype = spec.Dtype switch
        {
            "fp32" => ScalarType.Float32,
            "bf16" => ScalarType.BFloat16,
            _ => throw new PeftConfigurationException($"{ChildSwitch}: dtype must be fp32 or bf16, got '{spec.Dtype}'"),
        };
        var model = new DecoderForCausalLM(config, dtype);
        if (spec.GradientCheckpointing)
        {
            model.EnableGradientCheckpointing();
        }

        var peft = PeftModel.Create(model, new LoraConfig
        {
            R = 16,
            LoraAlpha = 32,
            TaskType = "CAUSAL_LM",
            TargetModules = TargetModules.FromNames("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        });
        model.train();
        var trainable = peft.GetTrainableParameters();
        using var optimizer = optim.AdamW(trainable, lr: 1e-4);
        var generator = new Generator(1);
        using var ids = randint(0, config.VocabSize, [spec.BatchSize, spec.SequenceLength], generator: generator);

        // One step on 8 tokens creates the gradients and AdamW's moments, so the setup figure holds every
        // tensor that lives for the whole run and the rest of the peak is activations.
        Step(model, optimizer, ids.narrow(0, 0, 1).narrow(1, 0, 8), spec.FusedLoss);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var setup = ChildProcess.StatusBytes("VmRSS");
        var reset = ChildProcess.ResetPeak();
        var times = new List<double>();
        var firstLoss = double.NaN;
        for (var step = 0; step < spec.Steps; step++)
        {
            var clock = Stopwatch.StartNew();
            var loss = Step(model, optimizer, ids, spec.FusedLoss);
            times.Add(clock.Elapsed.TotalMilliseconds);
            firstLoss = double.IsNaN(firstLoss) ? loss : firstLoss;
        }

        var weights = model.parameters().Sum(p => p.numel() * p.ElementSize);
        var result = new DecoderStepResult(setup, ChildProcess.StatusBytes("VmHWM"), reset, weights, [.. times], firstLoss);
        output.WriteLine(ResultPrefix + JsonSerializer.Serialize(result, DecoderMemoryJsonContext.Default.DecoderStepResult));
    }

    /// <summary>
    /// One LoRA SFT step on <paramref name="ids"/> (every next token supervised): the loss over whole logits
    /// (<see cref="CausalLmLoss"/>), or with <paramref name="fused"/> the trainer's head and loss fused and chunked
    /// over tokens (<see cref="ChunkedCausalLmLoss"/>); returns the mean token loss.
    /// </summary>
    private static double Step(DecoderForCausalLM model, optim.Optimizer optimizer, Tensor ids, bool fused)
    {
        using var scope = NewDisposeScope();
        var loss = fused
            ? ChunkedCausalLmLoss.Compute(model.Backbone.Forward(ids, null, null, cache: null), model.PlainOutputWeight!, ids)
            : CausalLmLoss.Compute(model.Forward(ids, null, null, null, lastPositionOnly: false), ids);
        loss.backward();
        optimizer.step();
        optimizer.zero_grad();
        return loss.item<float>();
    }

    /// <summary>Runs each spec as a child in <paramref name="rounds"/> rounds, alternating their order; returns each spec's results.</summary>
    private static List<DecoderStepResult>[] Alternate(IReadOnlyList<string> childCommand, int rounds, bool parallel, TextWriter log, params DecoderStepSpec[] specs)
    {
        var results = specs.Select(_ => new List<DecoderStepResult>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            var order = Enumerable.Range(0, specs.Length).ToList();
            if (round % 2 == 1)
            {
                order.Reverse();
            }

            // In parallel, a round's children run at once (each has its own peak RSS; on a shared machine they
            // share its drift alike); otherwise one after another.
            var jsons = specs.Select(spec => JsonSerializer.Serialize(spec, DecoderMemoryJsonContext.Default.DecoderStepSpec)).ToArray();
            var lines = new string[specs.Length];
            if (parallel)
            {
                Task.WaitAll([.. order.Select(i => Task.Run(() => lines[i] = ChildProcess.RunForLine(childCommand, [jsons[i]], ResultPrefix)))]);
            }
            else
            {
                order.ForEach(i => lines[i] = ChildProcess.RunForLine(childCommand, [jsons[i]], ResultPrefix));
            }

            foreach (var i in order)
            {
                var result = JsonSerializer.Deserialize(lines[i], DecoderMemoryJsonContext.Default.DecoderStepResult)
                    ?? throw new IOException($"the decoder step child printed no result for {jsons[i]}");
                results[i].Add(result);
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {jsons[i]}: {Describe([result])}; steps {string.Join(", ", result.StepMilliseconds.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))} ms; first loss {result.FirstLoss:F4}"));
            }
        }

        return results;
    }

    private static BenchRecord PeakRecord(string name, List<DecoderStepResult> a, List<DecoderStepResult> b, double? target)
    {
        var (peakA, peakB) = (Median(a, r => r.PeakRss), Median(b, r => r.PeakRss));
        return new BenchRecord(name, peakA / peakB, "ratio", target, Detail: string.Create(CultureInfo.InvariantCulture,
            $"{Describe(a)} vs {Describe(b)}; weights {a[0].WeightBytes / 1e6:F0} MB vs {b[0].WeightBytes / 1e6:F0} MB; first loss {a[0].FirstLoss:F4} vs {b[0].FirstLoss:F4}"));
    }

    private static BenchRecord TimeRecord(string name, List<DecoderStepResult> a, List<DecoderStepResult> b, double? target)
    {
        var (timeA, timeB) = (StepMilliseconds(a), StepMilliseconds(b));
        return new BenchRecord(name, timeA / timeB, "ratio", target, Detail: string.Create(CultureInfo.InvariantCulture,
            $"median step {timeA:F0} ms vs {timeB:F0} ms over {a.Count} alternating child runs each (first step of each run left out)"));
    }

    /// <summary>Median step time over every run's steps after its first.</summary>
    private static double StepMilliseconds(List<DecoderStepResult> runs) =>
        SideBySide.Median([.. runs.SelectMany(r => r.StepMilliseconds.Length > 1 ? r.StepMilliseconds.Skip(1) : r.StepMilliseconds)]);

    private static double Activations(List<DecoderStepResult> runs) => Median(runs, r => r.PeakRss - r.SetupRss);

    private static double Median(List<DecoderStepResult> runs, Func<DecoderStepResult, double> value) => SideBySide.Median([.. runs.Select(value)]);

    private static string Describe(List<DecoderStepResult> runs) => string.Create(CultureInfo.InvariantCulture,
        $"peak RSS {Median(runs, r => r.PeakRss) / 1e6:F0} MB (after setup {Median(runs, r => r.SetupRss) / 1e6:F0} MB{(runs.All(r => r.PeakReset) ? string.Empty : "; peak counted from process start")})");
}

/// <summary>What <see cref="DecoderMemoryBench.Run"/> measures.</summary>
/// <param name="Rounds">Rounds of alternating children per comparison.</param>
/// <param name="Steps">Steps per child (the first is left out of step times).</param>
/// <param name="TrainerSteps">Steps of the long causal-LM run.</param>
/// <param name="Parts">The parts to run (<see cref="DecoderMemoryBench.Parts"/>); null: all.</param>
/// <param name="Parallel">Run the children of a round at the same time (memory is per child; the step times then share the machine's load alike).</param>
/// <param name="LargeSequenceLength">Tokens per row of the 1B-shaped run (batch 1).</param>
public sealed record DecoderMemoryOptions(int Rounds = 2, int Steps = 3, int TrainerSteps = 20_000, IReadOnlyCollection<string>? Parts = null, bool Parallel = false, int LargeSequenceLength = 256);

/// <summary>What one decoder-memory child runs.</summary>
/// <param name="Shape"><see cref="DecoderMemoryBench.SmolLm2"/> or <see cref="DecoderMemoryBench.Llama1B"/>.</param>
/// <param name="Dtype">The frozen base's dtype: <c>fp32</c> or <c>bf16</c>.</param>
/// <param name="SequenceLength">Tokens per row.</param>
/// <param name="BatchSize">Rows per step.</param>
/// <param name="GradientCheckpointing">Checkpoint every decoder layer.</param>
/// <param name="Steps">Measured steps (after the setup step on 8 tokens).</param>
/// <param name="FusedLoss">Score with <see cref="ChunkedCausalLmLoss"/> (the head's logits never whole) instead of <see cref="CausalLmLoss"/> over whole logits.</param>
public sealed record DecoderStepSpec(string Shape, string Dtype, int SequenceLength, int BatchSize, bool GradientCheckpointing, int Steps, bool FusedLoss = false);

/// <summary>What one decoder-memory child measured.</summary>
/// <param name="SetupRss">Resident bytes once the model, adapter, gradients and AdamW state exist.</param>
/// <param name="PeakRss">Peak resident bytes (<c>VmHWM</c>) over the measured steps (from process start when <paramref name="PeakReset"/> is false).</param>
/// <param name="PeakReset">Whether the kernel let the peak be reset after setup.</param>
/// <param name="WeightBytes">Bytes of every parameter (base and adapter).</param>
/// <param name="StepMilliseconds">Wall time of each measured step.</param>
/// <param name="FirstLoss">The first measured step's loss.</param>
public sealed record DecoderStepResult(long SetupRss, long PeakRss, bool PeakReset, long WeightBytes, double[] StepMilliseconds, double FirstLoss);

/// <summary>Source-generated JSON contracts of the decoder-memory child's spec and result.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DecoderStepSpec))]
[JsonSerializable(typeof(DecoderStepResult))]
internal sealed partial class DecoderMemoryJsonContext : JsonSerializerContext;
