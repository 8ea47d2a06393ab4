using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Training;

namespace PeftSharp.Bench;

/// <summary>
/// The benchmark suites of <c>peft bench</c> one at a time, with their own knobs (the figures in
/// docs/benchmarks.md name these commands). Each prints its records.
/// </summary>
internal static class Program
{
    private const string DecoderMemoryChild = "decoder-memory-child";

    private static int Main(string[] args)
    {
        if (!args.Contains("--default-heap"))
        {
            PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
        }

        var suite = args.FirstOrDefault();
        string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        int Int(string name, int fallback) => Option(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var root = Option("--root") ?? SideBySide.FindRepository();
        var large = args.Contains("--large");
        Console.WriteLine($"machine: {SideBySide.Machine()}");
        IReadOnlyList<BenchRecord> records;
        switch (suite)
        {
            case "lora-overhead":
                records = LoraLayerBench.Run(Int("--tokens", 2048), Int("--dim", 768), Int("--rank", 8), Int("--rounds", 15), Int("--iterations", 10));
                break;
            case "lora-kernels":
                records = LoraLayerBench.KernelChoice(Console.Out, Int("--tokens", 2048), Option("--shape") is { } shape ? [ParseShape(shape)] : null, Int("--rounds", 11), Int("--iterations", 5));
                break;
            case "methods":
                records = MethodStepBench.Run(large ? 12 : 4, large ? 768 : 256, Int("--rounds", 7), Option("--method") is { } m ? [m] : null, Console.Out);
                break;
            case "engine":
                records = EngineBench.Run(large ? 12 : 4, large ? 768 : 256, Int("--rounds", 7), Console.Out);
                break;
            case "python":
                records = PythonBench.Run(root, large ? 12 : 4, large ? 768 : 256, Int("--rounds", 5), Console.Out);
                break;
            case "python-decoder":
                records = PythonDecoderBench.Run(root, small: !large, Int("--rounds", 3), Console.Out);
                break;
            case "quality":
                var quick = args.Contains("--quick");
                records = QualityBench.Run(QualityBench.Tasks(root, quick), new QualityOptions(Int("--seeds", quick ? QualityBench.QuickSeeds : QualityBench.DefaultSeeds), quick), Option("--output") ?? "runs/quality", Console.Out, root).Records;
                break;
            case "rank-recovery":
                var recovery = RankRecoverySettings.Full with
                {
                    Steps = Int("--steps", RankRecoverySettings.Full.Steps),
                    Seeds = Int("--seeds", RankRecoverySettings.Full.Seeds),
                    Targets = Option("--targets") is { } modules ? TargetModules.FromNames(modules.Split(',')) : RankRecoverySettings.Full.Targets,
                    Target = Option("--target") switch
                    {
                        null => RankRecoverySettings.Full.Target,
                        "hidden" => DistillationTarget.HiddenStates,
                        "kl" => DistillationTarget.NextTokenDistribution,
                        var other => throw new ArgumentException($"--target must be hidden or kl, got '{other}'"),
                    },
                    OracleLearningRate = Option("--oracle-lr") is { } oracleLr ? double.Parse(oracleLr, CultureInfo.InvariantCulture) : RankRecoverySettings.Full.OracleLearningRate,
                    LearningRate = Option("--lr") is { } lr ? double.Parse(lr, CultureInfo.InvariantCulture) : RankRecoverySettings.Full.LearningRate,
                    Strength = Option("--strength") is { } strength ? double.Parse(strength, CultureInfo.InvariantCulture) : RankRecoverySettings.Full.Strength,
                    Oracle = !args.Contains("--no-oracle"),
                };
                records = RankRecoveryBench.Run(root, recovery, Option("--output") ?? "runs/rank-recovery", Console.Out,
                    args.Contains("--oracle-only") ? [] : args.Contains("--ablations") ? [.. MethodStepBench.Variants(BenchmarkKind.RankRecoveryAblation).Select(v => v.Variant)] : null);
                break;
            case "memory":
                records = MemoryBench.Run(root, Int("--steps", 5000), Option("--methods")?.Split(','), Console.Out, Int("--batch-size", 8), Int("--max-length", 64));
                break;
            case DecoderEngineBench.Suite:
                records = DecoderEngineBench.Run(
                    args.Contains("--quick") ? DecoderBenchShape.Quick : DecoderBenchShape.SmolLm2,
                    Int("--rounds", 3),
                    Option("--methods") is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries) : null,
                    Console.Out);
                break;
            case "decoder-loss":
                var lossShape = args.Contains("--quick") ? DecoderBenchShape.Quick : DecoderBenchShape.SmolLm2;
                records = [.. (Option("--chunks") ?? "256").Split(',').Select(c => DecoderStepProfile.CompareLoss(lossShape, Int("--rounds", 7), int.Parse(c, CultureInfo.InvariantCulture)))];
                break;
            case "decoder-attention":
                var attentionShape = args.Contains("--quick") ? DecoderBenchShape.Quick : DecoderBenchShape.SmolLm2;
                records = [.. (Option("--sequences") ?? "128,256,512").Split(',').Select(s => DecoderStepProfile.CompareAttention(attentionShape, Int("--rounds", 7), int.Parse(s, CultureInfo.InvariantCulture)))];
                break;
            case "decoder-memory":
                records = DecoderMemoryBench.Run(ChildProcess.Command(DecoderMemoryChild), root, new DecoderMemoryOptions(Int("--rounds", 2), Int("--steps", 3), Int("--trainer-steps", 20_000), Option("--parts")?.Split(','), args.Contains("--parallel"), Int("--large-sequence", 256)), Console.Out);
                break;
            case DecoderMemoryChild:
                DecoderMemoryBench.Child(args[1], Console.Out);
                return 0;
            case "models":
                records = ModelThroughput.Run(Int("--rounds", 3), Console.Out);
                break;
            default:
                Console.Error.WriteLine("usage: PeftSharp.Bench lora-overhead [--tokens 2048] [--dim 768] [--rank 8] [--rounds 15] [--iterations 10] [--default-heap]");
                Console.Error.WriteLine("       PeftSharp.Bench lora-kernels [--tokens 2048] [--shape IN,OUT,RANK] [--rounds 11] [--iterations 5]");
                Console.Error.WriteLine("       PeftSharp.Bench methods [--rounds 7] [--large] [--method dylora|sora|mosara|tied_lora|adalora]");
                Console.Error.WriteLine("       PeftSharp.Bench engine [--rounds 7] [--large]");
                Console.Error.WriteLine("       PeftSharp.Bench python [--rounds 5] [--large]   (after bash bench/python/setup.sh)");
                Console.Error.WriteLine("       PeftSharp.Bench python-decoder [--rounds 3] [--large]   (SmolLM2-135M shape with --large; after bash bench/python/setup.sh)");
                Console.Error.WriteLine("       PeftSharp.Bench quality [--seeds 5] [--quick] [--output runs/quality]   (the claims protocol; plots: peft bench --only quality)");
                Console.Error.WriteLine("       PeftSharp.Bench rank-recovery [--steps 300] [--seeds 5] [--targets o_proj,down_proj] [--target hidden|kl] [--lr X] [--oracle-lr X] [--strength X] [--oracle-only | --no-oracle] [--ablations] [--output runs/rank-recovery]");
                Console.Error.WriteLine("       PeftSharp.Bench memory [--steps 5000] [--methods lora,sora,...] [--batch-size 8] [--max-length 64]");
                Console.Error.WriteLine("       PeftSharp.Bench models [--rounds 3]");
                Console.Error.WriteLine("       PeftSharp.Bench decoder-engine [--rounds 3] [--quick] [--methods dylora,sora,...|none]");
                Console.Error.WriteLine("       PeftSharp.Bench decoder-loss [--rounds 7] [--quick] [--chunks 256,1024]");
                Console.Error.WriteLine("       PeftSharp.Bench decoder-attention [--rounds 7] [--quick] [--sequences 128,256,512]");
                Console.Error.WriteLine("       PeftSharp.Bench decoder-memory [--rounds 2] [--steps 3] [--trainer-steps 20000] [--parts bf16,bf16-1b,checkpointing,long-run] [--parallel] [--large-sequence 256]");
                Console.Error.WriteLine("   or: peft bench [--quick] [--json FILE] for all of them");
                return 1;
        }

        Console.WriteLine();
        foreach (var record in records)
        {
            Console.WriteLine(record);
        }

        return 0;
    }

    /// <summary>"IN,OUT,RANK" of <c>--shape</c>.</summary>
    private static (int In, int Out, int Rank) ParseShape(string text)
    {
        var parts = text.Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return parts.Length == 3 ? (parts[0], parts[1], parts[2]) : throw new ArgumentException($"--shape takes IN,OUT,RANK, got '{text}'");
    }
}
