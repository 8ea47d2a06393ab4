using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// A LoRA-wrapped Linear against the frozen Linear (training step: forward + backward with a real
/// upstream gradient and an input that needs gradient), and a merged adapter layer's forward
/// against the plain Linear's. <see cref="KernelChoice"/> compares LoRA's fused training kernel with
/// autograd's graph of the same layer per shape.
/// </summary>
public static class LoraLayerBench
{
    /// <summary>The shapes <see cref="KernelChoice"/> measures by default: (in, out, rank) of the encoder bench, the SmolLM2 decoder's projections and a 2048² layer.</summary>
    public static IReadOnlyList<(int In, int Out, int Rank)> KernelShapes { get; } = [(768, 768, 8), (576, 576, 16), (576, 1536, 16), (1536, 576, 16), (576, 192, 16), (2048, 2048, 16)];

    /// <summary>Runs both comparisons at <paramref name="tokens"/> × <paramref name="dim"/>, rank <paramref name="rank"/>.</summary>
    public static IReadOnlyList<BenchRecord> Run(int tokens = 2048, int dim = 768, int rank = 8, int rounds = 15, int iterations = 10)
    {
        using var layer = new LayerPair(tokens, dim, dim, rank);
        var shape = $"{tokens} tokens, {dim}→{dim}, r {rank}";
        var (train, lora, frozen) = SideBySide.Compare(rounds, iterations, layer.LoraStep, layer.FrozenStep);
        var input = randn(tokens, dim);
        layer.Layer.Merge();
        void MergedForward()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            layer.Layer.forward(input);
        }

        void PlainForward()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            layer.Plain.forward(input);
        }

        var (merged, m, b) = SideBySide.Compare(rounds, iterations, MergedForward, PlainForward);
        return
        [
            new("LoRA-wrapped Linear fwd+bwd / frozen Linear fwd+bwd", train, "ratio", 1.10, Detail: FormattableString.Invariant($"{lora:F2} ms vs {frozen:F2} ms; {shape}")),
            new("merged adapter forward / base Linear forward", merged, "ratio", 1.01, Detail: FormattableString.Invariant($"{m:F2} ms vs {b:F2} ms; {shape}")),
        ];
    }

    /// <summary>
    /// Per shape, LoRA's fused training kernel (<c>LoraLinearFunction</c>, one autograd node) against
    /// autograd's graph of the same layer, both as LoRA-wrapped layers, the kernel in its factored and its
    /// merged-weight form, and each against the frozen Linear (the four alternate in rounds). The rules
    /// <c>LoraPath.FusedKernelPays</c> and <c>LoraPath.MergedKernelPays</c> are read off these records.
    /// </summary>
    public static IReadOnlyList<BenchRecord> KernelChoice(TextWriter log, int tokens = 2048, IReadOnlyList<(int In, int Out, int Rank)>? shapes = null, int rounds = 11, int iterations = 5)
    {
        var records = new List<BenchRecord>();
        foreach (var (inFeatures, outFeatures, rank) in shapes ?? KernelShapes)
        {
            using var layer = new LayerPair(tokens, inFeatures, outFeatures, rank);
            void Factored()
            {
                (LoraPath.FusedKernelOverride, LoraPath.MergedKernelOverride) = (true, false);
                layer.LoraStep();
            }

            void Merged()
            {
                (LoraPath.FusedKernelOverride, LoraPath.MergedKernelOverride) = (true, true);
                layer.LoraStep();
            }

            void Graph()
            {
                (LoraPath.FusedKernelOverride, LoraPath.MergedKernelOverride) = (false, null);
                layer.LoraStep();
            }

            var (factoredTimes, mergedTimes, graphTimes, frozenTimes) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
            var variants = new (Action Step, List<double> Times)[] { (Factored, factoredTimes), (Merged, mergedTimes), (Graph, graphTimes), (layer.FrozenStep, frozenTimes) };
            for (var round = 0; round < rounds; round++)
            {
                // The four rotate their order round by round so drift on a shared machine hits each alike.
                for (var k = 0; k < variants.Length; k++)
                {
                    var (step, times) = variants[(round + k) % variants.Length];
                    times.Add(TimeMs(step, round == 0 ? 2 : 0, iterations));
                }
            }

            (LoraPath.FusedKernelOverride, LoraPath.MergedKernelOverride) = (null, null);
            var (factored, merged, graph, frozen) = (SideBySide.Median(factoredTimes), SideBySide.Median(mergedTimes), SideBySide.Median(graphTimes), SideBySide.Median(frozenTimes));
            // The kernel as it runs: in the form the rule picks for this shape.
            var mergedForm = LoraPath.MergedKernelPays(tokens, inFeatures, outFeatures, rank);
            var chosen = LoraPath.FusedKernelPays(inFeatures, outFeatures, rank) ? $"the fused kernel's {(mergedForm ? "merged" : "factored")} form" : "autograd graph";
            records.Add(new BenchRecord(
                string.Create(CultureInfo.InvariantCulture, $"LoRA layer fwd+bwd, fused kernel / autograd graph ({inFeatures}→{outFeatures}, r {rank})"),
                (mergedForm ? merged : factored) / graph,
                "ratio",
                Detail: string.Create(CultureInfo.InvariantCulture, $"fused factored {factored:F2} ms ({factored / frozen:F3} of frozen), fused merged {merged:F2} ms ({merged / frozen:F3}), graph {graph:F2} ms ({graph / frozen:F3}), frozen {frozen:F2} ms; {tokens} tokens; the rule picks {chosen}")));
            log.WriteLine(records[^1]);
        }

        return records;
    }

    private static double TimeMs(Action action, int warmUp, int iterations)
    {
        for (var i = 0; i < warmUp; i++)
        {
            action();
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            action();
        }

        return clock.Elapsed.TotalMilliseconds / iterations;
    }

    /// <summary>A frozen Linear and a LoRA-wrapped copy of it, with an input that needs gradient and an upstream gradient.</summary>
    private sealed class LayerPair : IDisposable
    {
        private readonly Tensor _x;
        private readonly Tensor _upstream;

        public LayerPair(int tokens, int inFeatures, int outFeatures, int rank)
        {
            manual_seed(0);
            Plain = nn.Linear(inFeatures, outFeatures);
            foreach (var p in Plain.parameters())
            {
                p.requires_grad = false;
            }

            var wrappedBase = nn.Linear(inFeatures, outFeatures);
            using (no_grad())
            {
                wrappedBase.weight!.copy_(Plain.weight!);
                wrappedBase.bias!.copy_(Plain.bias!);
            }

            Layer = new AdapterLayer(wrappedBase);
            Layer.AddPath("default", new LoraPath(inFeatures, outFeatures, rank, 2 * rank, init: LoraInit.Random));
            Layer.SetActiveAdapters(["default"]);
            _x = randn(tokens, inFeatures).requires_grad_(true);
            _upstream = randn(tokens, outFeatures);
        }

        public TorchSharp.Modules.Linear Plain { get; }

        public AdapterLayer Layer { get; }

        public void FrozenStep()
        {
            using var scope = NewDisposeScope();
            Plain.forward(_x).backward([_upstream]);
            _x.grad?.zero_();
        }

        public void LoraStep()
        {
            using var scope = NewDisposeScope();
            Layer.forward(_x).backward([_upstream]);
            _x.grad?.zero_();
            foreach (var p in Layer.parameters().Where(p => p.requires_grad))
            {
                p.grad?.zero_();
            }
        }

        public void Dispose()
        {
            Plain.Dispose();
            Layer.Dispose();
            _x.Dispose();
            _upstream.Dispose();
        }
    }
}
