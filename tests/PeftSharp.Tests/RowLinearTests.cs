using System.Runtime.InteropServices;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The batch-1 decoding kernel: one row through a frozen linear layer, on one thread or on lent threads.</summary>
public sealed class RowLinearTests
{
    /// <summary>Shapes with tails in both dimensions (rows not a multiple of four, columns not of the vector width), small and above the parallel threshold.</summary>
    public static TheoryData<int, int, bool> Shapes => new()
    {
        { 37, 13, true },
        { 576, 192, false },
        { 577, 301, true },
        { 1536, 576, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Fp32MatchesLibtorchsLinearOnOneThreadAndOnLentThreads(int inFeatures, int outFeatures, bool withBias)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var weight = randn(outFeatures, inFeatures, generator: generator);
        var bias = withBias ? randn(outFeatures, generator: generator) : null;
        var input = randn(1, 1, inFeatures, generator: generator);
        var expected = nn.functional.linear(input.to(ScalarType.Float64), weight.to(ScalarType.Float64), bias?.to(ScalarType.Float64));

        Assert.True(RowLinear.TryForward(input, weight, bias, out var alone));
        Assert.Equal(new long[] { 1, 1, outFeatures }, alone.shape);
        TestUtil.AssertClose(alone.to(ScalarType.Float64), expected, 1e-5, 1e-4);
        using (RowLinear.LendThreads())
        {
            Assert.True(RowLinear.TryForward(input, weight, bias, out var lent));
            Assert.True(TestUtil.Identical(lent, alone), "the rows a thread computes do not depend on how many threads share the weight");
        }
    }

    [Fact]
    public void Bf16WeightsAccumulateInFp32AndRoundOnce()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var weight = randn(301, 577, generator: generator).to(ScalarType.BFloat16);
        var bias = randn(301, generator: generator).to(ScalarType.BFloat16);
        var input = randn(1, 577, generator: generator).to(ScalarType.BFloat16);
        Assert.True(RowLinear.TryForward(input, weight, bias, out var output));
        Assert.Equal(ScalarType.BFloat16, output.dtype);

        // The exact sum of the bf16 values, rounded to bf16 once: at most half a bf16 step away, plus the
        // fp32 summation's rounding, so within one step (2⁻⁸ relative) of it.
        var exact = nn.functional.linear(input.to(ScalarType.Float64), weight.to(ScalarType.Float64), bias.to(ScalarType.Float64));
        var difference = (output.to(ScalarType.Float64) - exact).abs();
        Assert.True((difference <= (exact.abs() * (1.0 / 256)) + 1e-3).all().item<bool>(), $"max |Δ| {difference.max().item<double>()}");
    }

    [Fact]
    public void NarrowRoundsToNearestEvenAsLibtorchDoes()
    {
        using var scope = NewDisposeScope();
        var values = new[] { 1.0f, 1.00390625f, 1.01171875f, -3.3f, 65504f, 1e-40f, float.PositiveInfinity, float.NegativeInfinity, 3.3895314e38f };
        var expected = MemoryMarshal.Cast<byte, ushort>(tensor(values).to(ScalarType.BFloat16).bytes).ToArray();
        Assert.Equal(expected, values.Select(RowGemv.Narrow));
        Assert.True(float.IsNaN(RowGemv.Widen(RowGemv.Narrow(float.NaN))));
    }

    [Fact]
    public void CallsTheKernelDoesNotServeGoToLibtorch()
    {
        using var scope = NewDisposeScope();
        var weight = randn(8, 16);
        Assert.False(RowLinear.TryForward(randn(2, 16), weight, null, out _), "two rows");
        Assert.False(RowLinear.TryForward(randn(16, 1).t(), randn(16, 8).t(), null, out _), "a strided weight");
        Assert.False(RowLinear.TryForward(randn(1, 16, dtype: ScalarType.Float64), weight.to(ScalarType.Float64), null, out _), "fp64");
        Assert.False(RowLinear.TryForward(randn(1, 16), weight.to(ScalarType.BFloat16), null, out _), "mixed dtypes");
        Assert.False(RowLinear.TryForward(randn(1, 16), weight, randn(4), out _), "a bias of the wrong length");

        // A row that needs a gradient goes to libtorch, and the gradient reaches the input.
        var input = randn(1, 16).requires_grad_();
        Assert.False(RowLinear.TryForward(input, weight, null, out _));
        RowLinear.Forward(input, weight).sum().backward();
        TestUtil.AssertClose(input.grad!, weight.sum(0, keepdim: true));

        // Without gradients the same row takes the kernel.
        using (no_grad())
        {
            Assert.True(RowLinear.TryForward(input, weight, null, out var output));
            TestUtil.AssertClose(output, nn.functional.linear(input, weight), 1e-5, 1e-5);
        }
    }

    [Fact]
    public void ModulesOtherThanAPlainLinearRunTheirOwnForward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var linear = nn.Linear(16, 8);
        var sequential = nn.Sequential(("inner", linear));
        var input = randn(1, 16);
        TestUtil.AssertClose(RowLinear.Forward(linear, input), linear.forward(input), 1e-5, 1e-5);
        TestUtil.AssertClose(RowLinear.Forward(sequential, input), linear.forward(input), 1e-5, 1e-5);
    }

    [Fact]
    public void AnAdaptedLayerAddsItsPathsToTheKernelsBaseOutputForOneRow()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var linear = nn.Linear(40, 24);
        var path = new LoraPath(40, 24, 4, alpha: 8, init: LoraInit.Random);
        var layer = new AdapterLayer(linear);
        layer.AddPath("default", path);
        layer.SetActiveAdapters(["default"]);
        var x = randn(1, 1, 40);
        var xd = x.reshape(1, 40).to(ScalarType.Float64);
        var expected = xd.matmul(linear.weight!.detach().to(ScalarType.Float64).t()) + linear.bias!.detach().to(ScalarType.Float64)
            + (xd.matmul(path.A.detach().to(ScalarType.Float64).t()).matmul(path.B.detach().to(ScalarType.Float64).t()) * 2.0);
        using var noGrad = no_grad();
        Assert.NotNull(RowLinear.TryForward(linear, x));
        TestUtil.AssertClose(layer.forward(x).reshape(1, 24), expected, 1e-5, 1e-5);
        layer.Merge();
        TestUtil.AssertClose(layer.forward(x).reshape(1, 24), expected, 1e-5, 1e-5);
    }

    [Fact]
    public void LoansHoldLibtorchAtOneThreadAndTheLastReturnRestoresIt()
    {
        var before = get_num_threads();
        var outer = RowLinear.LendThreads();
        var inner = RowLinear.LendThreads();
        Assert.Equal(1, get_num_threads());
        inner.Dispose();
        inner.Dispose();
        Assert.Equal(1, get_num_threads());
        outer.Dispose();
        Assert.Equal(before, get_num_threads());
    }

    [Fact]
    public void ConcurrentCallersEachGetTheirOwnResult()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(11);
        var weights = Enumerable.Range(0, 4).Select(_ => randn(577, 301, generator: generator)).ToArray();
        var inputs = Enumerable.Range(0, 4).Select(_ => randn(1, 301, generator: generator)).ToArray();
        var expected = weights.Select((w, i) => nn.functional.linear(inputs[i], w)).ToArray();
        using var threads = RowLinear.LendThreads();
        Parallel.For(0, 4, i =>
        {
            for (var round = 0; round < 50; round++)
            {
                using var roundScope = NewDisposeScope();
                Assert.True(RowLinear.TryForward(inputs[i], weights[i], null, out var output));
                TestUtil.AssertClose(output, expected[i], 1e-5, 1e-4);
            }
        });
    }
}
