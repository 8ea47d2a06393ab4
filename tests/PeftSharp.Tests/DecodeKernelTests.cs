using PeftSharp.Models.Decoders;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The batch-1 decoding kernels (attention over the cache, RMS norm, rotary embedding) against the libtorch operations they replace.</summary>
public sealed class DecodeKernelTests
{
    [Theory]
    [InlineData(9, 3, 64, 1)]
    [InlineData(9, 3, 64, 47)]
    [InlineData(4, 4, 20, 9)]
    [InlineData(6, 1, 12, 300)]
    public void SingleQueryAttentionMatchesScaledDotProductAttentionOverCacheViews(int heads, int kvHeads, int dim, int length)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator(13);
        var query = randn(1, heads, 1, dim, generator: generator);

        // As the KV cache holds them: a longer buffer, viewed up to the filled length.
        var keys = randn(1, kvHeads, length + 5, dim, generator: generator).narrow(2, 0, length);
        var values = randn(1, kvHeads, length + 5, dim, generator: generator).narrow(2, 0, length);
        var repeat = heads / kvHeads;
        var expected = nn.functional.scaled_dot_product_attention(query,
            keys.repeat_interleave(repeat, dim: 1), values.repeat_interleave(repeat, dim: 1));

        var actual = SingleQueryAttention.TryForward(query, keys, values, mask: null, dropout: 0.0);
        Assert.NotNull(actual);
        TestUtil.AssertClose(actual, expected, 1e-5, 1e-5);
    }

    [Fact]
    public void SingleQueryAttentionLeavesEverythingElseToLibtorch()
    {
        using var scope = NewDisposeScope();
        var keys = randn(1, 2, 5, 8);
        Assert.Null(SingleQueryAttention.TryForward(randn(1, 4, 1, 8), keys, keys, ones(1, 1, 1, 5, dtype: ScalarType.Bool), 0.0));
        Assert.Null(SingleQueryAttention.TryForward(randn(1, 4, 1, 8), keys, keys, null, 0.1));
        Assert.Null(SingleQueryAttention.TryForward(randn(2, 4, 1, 8), randn(2, 2, 5, 8), randn(2, 2, 5, 8), null, 0.0));
        Assert.Null(SingleQueryAttention.TryForward(randn(1, 4, 2, 8), keys, keys, null, 0.0));
        Assert.Null(SingleQueryAttention.TryForward(randn(1, 4, 1, 8, dtype: ScalarType.Float64), keys.to(ScalarType.Float64), keys.to(ScalarType.Float64), null, 0.0));
        Assert.Null(SingleQueryAttention.TryForward(randn(1, 4, 1, 8), randn(1, 2, 8, 5).transpose(2, 3), keys, null, 0.0));
        Assert.Null(SingleQueryAttention.TryForward(randn(1, 4, 1, 8).requires_grad_(), keys, keys, null, 0.0));
    }

    [Fact]
    public void RmsNormInEvaluationMatchesTheTrainingPath()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var norm = new RmsNorm(96, 1e-5, ScalarType.Float32);
        norm.get_parameter("weight")!.copy_(rand(96) + 0.5);
        foreach (var input in new[] { randn(1, 1, 96) * 3, randn(1, 1, 4, 96), randn(2, 96) })
        {
            norm.train();
            var libtorch = norm.forward(input);
            norm.eval();
            Assert.NotNull(SingleRowKernels.RmsNorm(input, norm.get_parameter("weight")!, 1e-5));
            TestUtil.AssertClose(norm.forward(input), libtorch, 1e-6, 1e-6);
        }

        // A prompt-sized input stays with libtorch.
        Assert.Null(SingleRowKernels.RmsNorm(randn(1, 200, 96), norm.get_parameter("weight")!, 1e-5));
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(64, 32)]
    public void RotaryKernelRoundsAsTheLibtorchSequence(int dim, int rotaryDim)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rotary = new RotaryEmbedding(new RopeSettings(RopeKind.Default, 10000.0), rotaryDim);
        var (cos, sin) = rotary.Compute(tensor(new long[] { 37 }).view(1, 1), ScalarType.Float32);
        var heads = randn(1, 1, 5, dim).transpose(1, 2);
        var libtorch = rotary.Apply(heads, cos, sin, evaluating: false);
        var kernel = rotary.Apply(heads, cos, sin, evaluating: true);
        Assert.NotNull(SingleRowKernels.Rotary(heads.transpose(1, 2), cos, sin, rotaryDim));
        Assert.Equal(libtorch.shape, kernel.shape);
        Assert.True(TestUtil.Identical(kernel, libtorch), "the kernel forms x·cos + rotate_half(x)·sin with libtorch's roundings");
    }
}
