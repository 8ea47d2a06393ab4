using PeftSharp.Adapters;
using PeftSharp.Training;

namespace PeftSharp.Benchmarks;

/// <summary>What <c>peft bench</c> runs.</summary>
/// <param name="Quick">The quick suite (under 10 minutes on 2 cores): small shapes, fewer rounds, one quality run per method.</param>
/// <param name="Root">The repository root (bundled base model and data).</param>
/// <param name="Output">Where runs and reports go.</param>
/// <param name="Only">Suites to run (<c>layer</c>, <c>methods</c>, <c>engine</c>, <c>python</c>, <c>python-decoder</c>, <c>quality</c>, <c>baseline</c>, <c>rank-recovery</c>, <c>memory</c>, <c>throughput</c>, <c>decode</c>, <c>deberta</c>, <c>load</c>, <c>decoder-engine</c>, <c>decoder-memory</c>); null: all of the mode's.</param>
/// <param name="Seeds">Seeds per configuration of the suites that repeat runs over seeds (quality: null is <see cref="QualityBench.DefaultSeeds"/>, quick <see cref="QualityBench.QuickSeeds"/>; rank recovery: its own default).</param>
public sealed record BenchOptions(bool Quick, string Root, string Output, IReadOnlyCollection<string>? Only = null, int? Seeds = null);

/// <summary>The benchmark suites, each a list of records measured side by side in one run.</summary>
public static class BenchSuite
{
    /// <summary>The suite names.</summary>
    public static readonly IReadOnlyList<string> Suites = ["layer", "methods", "engine", "python", "python-decoder", "quality", "baseline", "rank-recovery", "memory", "throughput", "decode", "deberta", "load", DecoderEngineBench.Suite, "decoder-memory"];

    /// <summary>Runs the suites; returns every record, the quality protocol's report (its runs and claim plots; null when it did not run) and the suites that failed (each with its reason; the others still run).</summary>
    public static (List<BenchRecord> Records, QualityReport? Quality, List<string> Failures) Run(BenchOptions options, TextWriter log, Func<string, IProgress<TrainingProgress>?>? progressFor = null)
    {
        if (options.Only?.FirstOrDefault(s => !Suites.Contains(s)) is { } unknown)
        {
            throw new PeftConfigurationException($"unknown benchmark suite '{unknown}' (suites: {string.Join(", ", Suites)})");
        }

        // The full suite runs everything; quick skips throughput, and python runs only when asked for
        // or when PyTorch is installed (bench/python/setup.sh).
        bool Wanted(string suite) => options.Only?.Contains(suite) ?? suite switch
        {
            "throughput" or "decode" => !options.Quick,
            "load" or "decoder-memory" => false,
            "python" or "python-decoder" => PythonBench.IsAvailable(),
            _ => true,
        };
        var records = new List<BenchRecord>();
        QualityReport? quality = null;
        var failures = new List<string>();
        var (layers, hidden) = options.Quick ? (4, 256) : (12, 768);
        log.WriteLine($"machine: {SideBySide.Machine()}; {(options.Quick ? "quick" : "full")} suite");
        void Suite(string name, string title, Action body)
        {
            if (!Wanted(name))
            {
                return;
            }

            log.WriteLine($"== {title}");
            try
            {
                body();
            }
            catch (Exception e) when (e is PeftException or IOException)
            {
                failures.Add($"{name}: {e.Message}");
                log.WriteLine($"suite {name} failed: {e.Message}");
            }
        }

        Suite("layer", "LoRA layer overhead and merged inference", () =>
        {
            records.AddRange(options.Quick ? LoraLayerBench.Run(rounds: 9, iterations: 5) : LoraLayerBench.Run(rounds: 31));
            records.TakeLast(2).ToList().ForEach(log.WriteLine);
            if (!options.Quick)
            {
                records.AddRange(LoraLayerBench.KernelChoice(log));
            }
        });
        Suite("methods", $"adaptive-method step / LoRA step ({layers} layers, d {hidden})", () => records.AddRange(MethodStepBench.Run(layers, hidden, options.Quick ? 5 : 7, null, log)));
        Suite("engine", $"against the engine ({layers} layers, d {hidden})", () => records.AddRange(EngineBench.Run(layers, hidden, options.Quick ? 5 : 7, log)));
        Suite("python", $"against PyTorch ({layers} layers, d {hidden})", () => records.AddRange(PythonBench.Run(options.Root, layers, hidden, options.Quick ? 3 : 5, log)));
        Suite("python-decoder", $"decoder LoRA SFT step against PyTorch ({(options.Quick ? "the bundled 4-layer decoder" : "SmolLM2-135M shape")})", () => records.AddRange(PythonDecoderBench.Run(options.Root, options.Quick, 3, log)));
        Suite("quality", "quality protocol: the papers' claims over seeds with 95 % intervals (issue 24)", () =>
        {
            var seeds = options.Seeds ?? (options.Quick ? QualityBench.QuickSeeds : QualityBench.DefaultSeeds);
            quality = QualityBench.Run(QualityBench.Tasks(options.Root, options.Quick), new QualityOptions(seeds, options.Quick), Path.Combine(options.Output, "quality"), log, options.Root);
            records.AddRange(quality.Records);
        });
        Suite("baseline", "TF-IDF + logistic regression baseline", () => records.AddRange(BaselineBench.Run(options.Root, log)));
        Suite("rank-recovery", $"rank recovery on the bundled decoder (oracle, {string.Join(", ", MethodStepBench.Variants(BenchmarkKind.RankRecovery).Select(v => v.Method.Name))})", () =>
        {
            var settings = options.Quick ? RankRecoverySettings.Quick : RankRecoverySettings.Full;
            records.AddRange(RankRecoveryBench.Run(options.Root, options.Seeds is { } seeds ? settings with { Seeds = seeds } : settings, Path.Combine(options.Output, "rank-recovery"), log));
        });
        Suite("memory", "memory over a long run", () => records.AddRange(MemoryBench.Run(options.Root, options.Quick ? 1000 : 5000, options.Quick ? [AdapterMethodRegistry.All[0].Name] : null, log)));
        Suite("throughput", "encoder training throughput", () => records.AddRange(ModelThroughput.Run(3, log)));
        Suite("decode", "decoder generation: KV cache vs recomputing the prefix (SmolLM2-135M shape)", () => records.AddRange(options.Quick ? DecodeBench.Run(log, batches: [1]) : DecodeBench.Run(log)));
        Suite("deberta", $"DeBERTa-v3 LoRA step / BERT LoRA step ({layers} layers, d {hidden})", () => records.AddRange(DebertaBench.Run(layers, hidden, options.Quick ? 5 : 7, log)));
        Suite(DecoderEngineBench.Suite, "decoder fine-tuning step (SmolLM2-135M shape; quick: 4 layers, vocabulary 8192)", () =>
            records.AddRange(DecoderEngineBench.Run(options.Quick ? DecoderBenchShape.Quick : DecoderBenchShape.SmolLm2, 3, null, log)));
        Suite("load", "loading a Llama-3.2-1B-shaped bf16 checkpoint (peak RSS in a child process)", () => records.AddRange(LoadBench.Run(LoadBench.PeftChildCommand(), log)));
        Suite("decoder-memory", "decoder memory: bf16 base, activation checkpointing, a long causal-LM run (peak RSS in child processes)", () => records.AddRange(
            DecoderMemoryBench.Run(DecoderMemoryBench.PeftChildCommand(), options.Root, options.Quick ? new DecoderMemoryOptions(Rounds: 1, TrainerSteps: 2000, Parts: ["bf16", "checkpointing", "long-run"]) : new DecoderMemoryOptions(), log)));
        return (records, quality, failures);
    }
}
