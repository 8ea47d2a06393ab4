using System.Diagnostics;
using System.Globalization;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Bench;

/// <summary>
/// Side-by-side micro-benchmarks. Each comparison alternates the two variants in rounds (so drift
/// of a shared machine hits both alike) and reports the ratio of their median round times.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "methods")
        {
            PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
            MethodOverhead.Run(args.Skip(1).ToArray());
            return 0;
        }

        if (args.Length > 0 && args[0] == "quality")
        {
            PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
            Quality.Run(args.Skip(1).ToArray());
            return 0;
        }

        if (args.Length > 0 && args[0] == "memory")
        {
            PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
            MemoryFlat.Run(args.Skip(1).ToArray());
            return 0;
        }

        if (args.Length > 0 && args[0] == "models")
        {
            PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
            ModelThroughput.Run(args.Skip(1).ToArray());
            return 0;
        }

        var options = Options.Parse(args);
        if (options is null)
        {
            Console.Error.WriteLine("usage: PeftSharp.Bench lora-overhead [--tokens 2048] [--dim 768] [--rank 8] [--rounds 15] [--iterations 10] [--default-heap]");
            Console.Error.WriteLine("       PeftSharp.Bench models [--rounds 3]");
            Console.Error.WriteLine("       PeftSharp.Bench memory [--steps 5000]");
            Console.Error.WriteLine("       PeftSharp.Bench quality [--root .] [--task sotu-era] [--steps 300] [--only prefix,...] [--output runs/quality]");
            Console.Error.WriteLine("       PeftSharp.Bench methods [--rounds 7] [--large] [--method dylora|sora|mosara|tied_lora|adalora]");
            return 1;
        }

        var tuned = !options.DefaultHeap && PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
        Console.WriteLine($"native heap: {(tuned ? "tuned (NativeHeap.KeepFreedMemory)" : "glibc defaults")}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, torch threads {get_num_threads()}");
        Console.WriteLine($"shape: tokens {options.Tokens}, d {options.Dim}, r {options.Rank}; {options.Rounds} rounds × {options.Iterations} iterations, ratio of medians");
        LoraOverhead(options);
        return 0;
    }

    private static void LoraOverhead(Options o)
    {
        manual_seed(0);
        var plain = nn.Linear(o.Dim, o.Dim);
        foreach (var p in plain.parameters())
        {
            p.requires_grad = false;
        }

        var wrappedBase = nn.Linear(o.Dim, o.Dim);
        using (no_grad())
        {
            wrappedBase.weight!.copy_(plain.weight!);
            wrappedBase.bias!.copy_(plain.bias!);
        }

        var layer = new AdapterLayer(wrappedBase);
        layer.AddPath("default", new LoraPath(o.Dim, o.Dim, o.Rank, 2 * o.Rank, init: LoraInit.Random));
        layer.SetActiveAdapters(["default"]);
        var x = randn(o.Tokens, o.Dim).requires_grad_(true);
        var upstream = randn(o.Tokens, o.Dim);

        // Training: the input needs gradient (upstream layers train), so the frozen layer's backward
        // computes dX; the output gradient is a real (random) tensor, as from the layers above.
        void FrozenStep()
        {
            using var scope = NewDisposeScope();
            plain.forward(x).backward([upstream]);
            x.grad?.zero_();
        }

        void LoraStep()
        {
            using var scope = NewDisposeScope();
            layer.forward(x).backward([upstream]);
            x.grad?.zero_();
            foreach (var p in layer.parameters().Where(p => p.requires_grad))
            {
                p.grad?.zero_();
            }
        }

        Report("LoRA-wrapped Linear fwd+bwd / frozen Linear fwd+bwd", Compare(o, LoraStep, FrozenStep), 1.10);

        var input = randn(o.Tokens, o.Dim);
        layer.Merge();
        void MergedForward()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            layer.forward(input);
        }

        void PlainForward()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            plain.forward(input);
        }

        Report("merged adapter forward / plain Linear forward", Compare(o, MergedForward, PlainForward), 1.01);
    }

    internal static (double Ratio, double A, double B) Compare(Options o, Action a, Action b)
    {
        for (var i = 0; i < 3; i++)
        {
            a();
            b();
        }

        var timesA = new List<double>();
        var timesB = new List<double>();
        var clock = new Stopwatch();
        for (var round = 0; round < o.Rounds; round++)
        {
            foreach (var (action, times) in round % 2 == 0 ? new[] { (a, timesA), (b, timesB) } : [(b, timesB), (a, timesA)])
            {
                clock.Restart();
                for (var i = 0; i < o.Iterations; i++)
                {
                    action();
                }

                times.Add(clock.Elapsed.TotalMilliseconds / o.Iterations);
            }
        }

        var medianA = Median(timesA);
        var medianB = Median(timesB);
        return (medianA / medianB, medianA, medianB);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static void Report(string name, (double Ratio, double A, double B) result, double target) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {result.Ratio:F3} ({result.A:F2} ms vs {result.B:F2} ms; target ≤ {target:F2}: {(result.Ratio <= target ? "met" : "NOT met")})"));

    internal sealed record Options(int Tokens, int Dim, int Rank, int Rounds, int Iterations, bool DefaultHeap)
    {
        public static Options? Parse(string[] args)
        {
            if (args.Length == 0 || args[0] != "lora-overhead")
            {
                return null;
            }

            var values = new Dictionary<string, int> { ["--tokens"] = 2048, ["--dim"] = 768, ["--rank"] = 8, ["--rounds"] = 15, ["--iterations"] = 10 };
            var defaultHeap = args.Contains("--default-heap");
            args = args.Where(a => a != "--default-heap").ToArray();
            for (var i = 1; i + 1 < args.Length; i += 2)
            {
                if (!values.ContainsKey(args[i]) || !int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) || value <= 0)
                {
                    return null;
                }

                values[args[i]] = value;
            }

            return new Options(values["--tokens"], values["--dim"], values["--rank"], values["--rounds"], values["--iterations"], defaultHeap);
        }
    }
}
