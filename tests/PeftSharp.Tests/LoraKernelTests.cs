using PeftSharp.Adapters;
using PeftSharp.Layers;
using PeftSharp.Methods.Lora;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>LoRA's fused training kernel (one autograd node) against autograd's graph of the same layer.</summary>
public sealed class LoraKernelTests
{
    private static AdapterLayer Wrap(nn.Module<Tensor, Tensor> linear, LoraPath path)
    {
        var layer = new AdapterLayer(linear);
        layer.AddPath("default", path);
        layer.SetActiveAdapters(["default"]);
        return layer;
    }

    /// <summary>Output and the gradients of the input, A and B after one backward with a random upstream gradient.</summary>
    private static Tensor[] Step(AdapterLayer layer, LoraPath path, Tensor input, Tensor upstream, bool fused, bool? merged = null)
    {
        LoraPath.FusedKernelOverride = fused;
        LoraPath.MergedKernelOverride = merged;
        try
        {
            var x = input.detach().clone().requires_grad_(true);
            path.A.grad?.zero_();
            path.B.grad?.zero_();
            var output = layer.forward(x);
            output.backward([upstream]);
            return [output.detach().clone(), x.grad!.clone(), path.A.grad!.clone(), path.B.grad!.clone()];
        }
        finally
        {
            LoraPath.FusedKernelOverride = null;
            LoraPath.MergedKernelOverride = null;
        }
    }

    private static void AssertRelativelyEqual(Tensor actual, Tensor expected, string what)
    {
        var error = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).norm().item<double>();
        var size = expected.to(ScalarType.Float64).norm().item<double>();
        Assert.True(size > 0, $"{what}: the reference is zero, the comparison would prove nothing");
        Assert.True(error <= 1e-6 * size, $"{what}: relative difference {error / size:E2} exceeds 1e-6");
    }

    [Theory]
    [InlineData(false, true, false)]
    [InlineData(false, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, true, true)]
    [InlineData(false, false, true)]
    [InlineData(true, true, true)]
    [InlineData(true, false, true)]
    public void FusedKernelGivesTheGraphsOutputAndGradients(bool fanInFanOut, bool bias, bool merged)
    {
        manual_seed(31);
        nn.Module<Tensor, Tensor> frozen = fanInFanOut ? new Conv1D(40, 24, bias) : nn.Linear(40, 24, bias);
        var path = new LoraPath(40, 24, 6, alpha: 12, init: LoraInit.Random);
        var layer = Wrap(frozen, path);
        var input = randn(2, 33, 40);
        var upstream = randn(2, 33, 24);
        LoraPath.FusedKernelOverride = true;
        Assert.NotNull(path.FusedForward(layer.Target, input.reshape(-1, 40).requires_grad_(true)));
        LoraPath.FusedKernelOverride = null;
        // The rule: the merged form at rank 16 and up once tokens·(in + out) > 2·in·out.
        Assert.True(LoraPath.MergedKernelPays(1024, 576, 1536, 16));
        Assert.False(LoraPath.MergedKernelPays(512, 768, 768, 16));
        Assert.False(LoraPath.MergedKernelPays(2048, 768, 768, 8));
        var graph = Step(layer, path, input, upstream, fused: false);
        var fused = Step(layer, path, input, upstream, fused: true, merged);
        string[] names = ["output", "input gradient", "A gradient", "B gradient"];
        for (var i = 0; i < names.Length; i++)
        {
            AssertRelativelyEqual(fused[i], graph[i], names[i]);
        }

        // And against an independent float64 formula: y = x·Wᵀ + b + s·x·Aᵀ·Bᵀ, dX = g·(W + s·B·A).
        var w = (fanInFanOut ? ((Conv1D)frozen).Weight.detach().t() : ((TorchSharp.Modules.Linear)frozen).weight!.detach()).to(ScalarType.Float64);
        var (a, b, x, g) = (path.A.detach().to(ScalarType.Float64), path.B.detach().to(ScalarType.Float64), input.reshape(-1, 40).to(ScalarType.Float64), upstream.reshape(-1, 24).to(ScalarType.Float64));
        var delta = b.matmul(a) * path.Scaling;
        var expected = x.matmul((w + delta).t());
        var frozenBias = fanInFanOut ? ((Conv1D)frozen).Bias : ((TorchSharp.Modules.Linear)frozen).bias;
        if (frozenBias is not null)
        {
            expected += frozenBias.detach().to(ScalarType.Float64);
        }

        TestUtil.AssertClose(fused[0].reshape(-1, 24).to(ScalarType.Float64), expected, 1e-5, 1e-5);
        TestUtil.AssertClose(fused[1].reshape(-1, 40).to(ScalarType.Float64), g.matmul(w + delta), 1e-5, 1e-5);
        TestUtil.AssertClose(fused[2].to(ScalarType.Float64), b.t().matmul(g.t()).matmul(x) * path.Scaling, 1e-5, 1e-5);
        TestUtil.AssertClose(fused[3].to(ScalarType.Float64), g.t().matmul(x).matmul(a.t()) * path.Scaling, 1e-5, 1e-5);
        Assert.Null(frozenBias?.grad);
    }

    [Fact]
    public void OnABf16BaseTheKernelGivesTheGraphsOutputAndGradientsAndKeepsTheNarrowInput()
    {
        manual_seed(34);
        var frozen = nn.Linear(40, 24, hasBias: true, dtype: ScalarType.BFloat16);
        var path = new LoraPath(40, 24, 6, alpha: 12, init: LoraInit.Random);
        var layer = Wrap(frozen, path);
        var input = randn(2, 33, 40).to(ScalarType.BFloat16);
        var upstream = randn(2, 33, 24).to(ScalarType.BFloat16);
        var graph = Step(layer, path, input, upstream, fused: false);
        var fused = Step(layer, path, input, upstream, fused: true);
        Assert.Equal(ScalarType.BFloat16, fused[0].dtype);
        Assert.Equal(ScalarType.BFloat16, fused[1].dtype);
        Assert.Equal(ScalarType.Float32, fused[2].dtype);
        // The output is rounded once from the same fp32 sum: identical; the gradients agree to bf16 rounding.
        Assert.True(fused[0].equal(graph[0]).all().item<bool>(), "output");
        AssertRelativelyEqual(fused[2], graph[2], "A gradient");
        AssertRelativelyEqual(fused[3], graph[3], "B gradient");
        var inputError = (fused[1].to(ScalarType.Float64) - graph[1].to(ScalarType.Float64)).norm().item<double>() / graph[1].to(ScalarType.Float64).norm().item<double>();
        Assert.True(inputError < 1e-2, $"input gradient: relative difference {inputError:E2}");
    }

    [Fact]
    public void FusedKernelTrainsLikeTheGraphOverOptimizerSteps()
    {
        // Run 0 the graph, 1 the fused kernel's factored form, 2 its merged-weight form.
        var losses = new List<double>[3];
        for (var run = 0; run < 3; run++)
        {
            manual_seed(32);
            var path = new LoraPath(16, 12, 4, alpha: 8, init: LoraInit.Random);
            var layer = Wrap(nn.Linear(16, 12), path);
            var optimizer = optim.AdamW(path.parameters(), 0.05);
            var x = randn(20, 16);
            var target = randn(20, 12);
            losses[run] = [];
            LoraPath.FusedKernelOverride = run >= 1;
            LoraPath.MergedKernelOverride = run == 2;
            try
            {
                for (var step = 0; step < 5; step++)
                {
                    optimizer.zero_grad();
                    var loss = (layer.forward(x) - target).square().mean();
                    loss.backward();
                    optimizer.step();
                    losses[run].Add(loss.item<float>());
                }
            }
            finally
            {
                LoraPath.FusedKernelOverride = null;
                LoraPath.MergedKernelOverride = null;
            }
        }

        Assert.True(losses[0][^1] < losses[0][0], "the loss should fall");
        for (var step = 0; step < 5; step++)
        {
            Assert.Equal(losses[0][step], losses[1][step], 5);
            Assert.Equal(losses[0][step], losses[2][step], 5);
        }
    }

    [Fact]
    public void FusedKernelIsUsedOnlyWhenItComputesTheSameFunction()
    {
        manual_seed(33);
        var linear = nn.Linear(8, 8);
        var withDropout = new LoraPath(8, 8, 2, 4, dropout: 0.3, init: LoraInit.Random);
        var layer = Wrap(linear, withDropout);
        var x = randn(5, 8).requires_grad_(true);
        LoraPath.FusedKernelOverride = true;
        try
        {
            layer.train();
            Assert.Null(withDropout.FusedForward(layer.Target, x));
            layer.eval();
            Assert.NotNull(withDropout.FusedForward(layer.Target, x));
            using (no_grad())
            {
                Assert.Null(withDropout.FusedForward(layer.Target, x));
            }

            withDropout.SetTrainable(false);
            Assert.Null(withDropout.FusedForward(layer.Target, x.detach()));
            withDropout.SetTrainable(true);

            // A trainable base weight would get no gradient from the kernel.
            linear.weight!.requires_grad = true;
            Assert.Null(withDropout.FusedForward(layer.Target, x));
            linear.weight!.requires_grad = false;

            // An fp32 adapter on a bf16 base runs in the kernel; an input of another dtype than the base's does not.
            var half = Wrap(nn.Linear(8, 8, dtype: ScalarType.BFloat16), new LoraPath(8, 8, 2, 4, init: LoraInit.Random));
            Assert.NotNull(half.GetPath("default").FusedForward(half.Target, x.to(ScalarType.BFloat16)));
            Assert.Null(half.GetPath("default").FusedForward(half.Target, x));
        }
        finally
        {
            LoraPath.FusedKernelOverride = null;
        }
    }
}
