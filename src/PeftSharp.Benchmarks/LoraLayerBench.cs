using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// A LoRA-wrapped Linear against the frozen Linear (training step: forward + backward with a real
/// upstream gradient and an input that needs gradient), and a merged adapter layer's forward
/// against the plain Linear's.
/// </summary>
public static class LoraLayerBench
{
    /// <summary>Runs both comparisons at <paramref name="tokens"/> × <paramref name="dim"/>, rank <paramref name="rank"/>.</summary>
    public static IReadOnlyList<BenchRecord> Run(int tokens = 2048, int dim = 768, int rank = 8, int rounds = 15, int iterations = 10)
    {
        manual_seed(0);
        var plain = nn.Linear(dim, dim);
        foreach (var p in plain.parameters())
        {
            p.requires_grad = false;
        }

        var wrappedBase = nn.Linear(dim, dim);
        using (no_grad())
        {
            wrappedBase.weight!.copy_(plain.weight!);
            wrappedBase.bias!.copy_(plain.bias!);
        }

        var layer = new AdapterLayer(wrappedBase);
        layer.AddPath("default", new LoraPath(dim, dim, rank, 2 * rank, init: LoraInit.Random));
        layer.SetActiveAdapters(["default"]);
        var x = randn(tokens, dim).requires_grad_(true);
        var upstream = randn(tokens, dim);

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

        var shape = $"{tokens} tokens, {dim}→{dim}, r {rank}";
        var (train, lora, frozen) = SideBySide.Compare(rounds, iterations, LoraStep, FrozenStep);
        var input = randn(tokens, dim);
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

        var (merged, m, b) = SideBySide.Compare(rounds, iterations, MergedForward, PlainForward);
        return
        [
            new("LoRA-wrapped Linear fwd+bwd / frozen Linear fwd+bwd", train, "ratio", 1.10, Detail: FormattableString.Invariant($"{lora:F2} ms vs {frozen:F2} ms; {shape}")),
            new("merged adapter forward / base Linear forward", merged, "ratio", 1.01, Detail: FormattableString.Invariant($"{m:F2} ms vs {b:F2} ms; {shape}")),
        ];
    }
}
