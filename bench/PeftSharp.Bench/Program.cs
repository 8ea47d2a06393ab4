using System.Globalization;
using PeftSharp.Benchmarks;

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
            case "methods":
                records = MethodStepBench.Run(large ? 12 : 4, large ? 768 : 256, Int("--rounds", 7), Option("--method") is { } m ? [m] : null, Console.Out);
                break;
            case "engine":
                records = EngineBench.Run(large ? 12 : 4, large ? 768 : 256, Int("--rounds", 7), Console.Out);
                break;
            case "python":
                records = PythonBench.Run(root, large ? 12 : 4, large ? 768 : 256, Int("--rounds", 5), Console.Out);
                break;
            case "quality":
                records = QualityBench.Run(root, Int("--steps", 300), args.Contains("--quick"), Option("--only")?.Split(','), Option("--output") ?? "runs/quality", Console.Out).Records;
                break;
            case "recovery":
                records = RankRecoveryBench.Run(root, Int("--steps", 400), Option("--output") ?? "runs/recovery", Console.Out);
                break;
            case "memory":
                records = MemoryBench.Run(root, Int("--steps", 5000), Option("--methods")?.Split(','), Console.Out, Int("--batch-size", 8), Int("--max-length", 64));
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
                Console.Error.WriteLine("       PeftSharp.Bench methods [--rounds 7] [--large] [--method dylora|sora|mosara|tied_lora|adalora]");
                Console.Error.WriteLine("       PeftSharp.Bench engine [--rounds 7] [--large]");
                Console.Error.WriteLine("       PeftSharp.Bench python [--rounds 5] [--large]   (after bash bench/python/setup.sh)");
                Console.Error.WriteLine("       PeftSharp.Bench quality [--steps 300] [--quick] [--only prefix,...] [--output runs/quality]");
                Console.Error.WriteLine("       PeftSharp.Bench recovery [--steps 400] [--output runs/recovery]");
                Console.Error.WriteLine("       PeftSharp.Bench memory [--steps 5000] [--methods lora,sora,...] [--batch-size 8] [--max-length 64]");
                Console.Error.WriteLine("       PeftSharp.Bench models [--rounds 3]");
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
}
