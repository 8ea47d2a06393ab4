using PeftSharp.Models.Decoders;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The training path's grouped, block-causal attention against SDPA over repeated key-value heads.</summary>
public sealed class BlockCausalAttentionTests
{
    [Theory]
    [InlineData(2, 9, 3, 16, 2)]
    [InlineData(2, 9, 3, 16, 64)]
    [InlineData(3, 9, 3, 16, 130)]
    [InlineData(1, 4, 4, 8, 70)]
    [InlineData(2, 6, 1, 8, 200)]
    public void OutputAndGradientsMatchCausalScaledDotProductAttention(int batch, int heads, int kvHeads, int dim, int length)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(11);
        var (query, keys, values) = Inputs(batch, heads, kvHeads, dim, length, generator);
        var weights = randn(batch, length, heads * dim, generator: generator);

        var actual = BlockCausalAttention.TryForward(query, keys, values, mask: null, causal: true, dropout: 0.0);
        Assert.NotNull(actual);
        var actualGrads = Gradients(actual, weights, query, keys, values);

        var expected = Reference(query, keys, values, mask: null);
        var expectedGrads = Gradients(expected, weights, query, keys, values);

        TestUtil.AssertClose(actual, expected, 1e-5, 1e-5);
        for (var i = 0; i < 3; i++)
        {
            TestUtil.AssertClose(actualGrads[i], expectedGrads[i], 1e-4, 1e-5);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PaddingMaskGivesSdpasResultsAtEveryRealPosition(bool leftPadding)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        const int batch = 3, heads = 6, kvHeads = 2, dim = 8, length = 75;
        var (query, keys, values) = Inputs(batch, heads, kvHeads, dim, length, generator);
        var real = ones(batch, length, dtype: ScalarType.Int64);
        foreach (var (row, pads) in new[] { (1, 9), (2, 70) })
        {
            real[row].narrow(0, leftPadding ? 0 : length - pads, pads).fill_(0);
        }

        var mask = CausalMask.Build(real, past: 0, length, window: null, ScalarType.Float32, CPU, out var causal);
        Assert.NotNull(mask);
        Assert.False(causal);

        // Only real positions are compared and weighted by the loss: a left-padding query sees no key at all,
        // and what it returns is never read by a real position nor by the loss.
        var realRows = real.to(ScalarType.Float32).unsqueeze(-1);
        var weights = randn(batch, length, heads * dim, generator: generator) * realRows;
        var actual = BlockCausalAttention.TryForward(query, keys, values, mask, causal, dropout: 0.0);
        Assert.NotNull(actual);
        Assert.False(actual.isnan().any().item<bool>());
        var actualGrads = Gradients(actual, weights, query, keys, values);
        var expected = Reference(query, keys, values, mask);
        var expectedGrads = Gradients(expected, weights, query, keys, values);

        TestUtil.AssertClose(actual * realRows, expected * realRows, 1e-5, 1e-5);
        for (var i = 0; i < 3; i++)
        {
            TestUtil.AssertClose(actualGrads[i], expectedGrads[i], 1e-4, 1e-5);
        }
    }

    [Fact]
    public void LeavesWhatItDoesNotServeToScaledDotProductAttention()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var (query, keys, values) = Inputs(1, 4, 2, 8, 20, generator);
        Assert.NotNull(BlockCausalAttention.TryForward(query, keys, values, null, causal: true, 0.0));
        Assert.Null(BlockCausalAttention.TryForward(query, keys, values, null, causal: true, 0.1));
        Assert.Null(BlockCausalAttention.TryForward(query, keys, values, null, causal: false, 0.0));
        Assert.Null(BlockCausalAttention.TryForward(query.narrow(2, 0, 1), keys, values, null, causal: true, 0.0));
        Assert.Null(BlockCausalAttention.TryForward(query.to(ScalarType.Float64), keys.to(ScalarType.Float64), values.to(ScalarType.Float64), null, causal: true, 0.0));
        BlockCausalAttention.Disabled = true;
        try
        {
            Assert.Null(BlockCausalAttention.TryForward(query, keys, values, null, causal: true, 0.0));
        }
        finally
        {
            BlockCausalAttention.Disabled = false;
        }

        var longer = Inputs(1, 4, 2, 8, BlockCausalAttention.MaxSequence + 1, generator);
        Assert.Null(BlockCausalAttention.TryForward(longer.Query, longer.Keys, longer.Values, null, causal: true, 0.0));
    }

    [Fact]
    public void ADecoderInTrainingModeGivesTheLogitsOfEvaluationMode()
    {
        // Training mode (dropout 0) takes the block path, evaluation mode SDPA: the same logits, padded or not.
        var model = ContractDecoders.Create("llama");
        using var scope = NewDisposeScope();
        var ids = ContractDecoders.Ids(seed: 9, batch: 3, length: 70);
        var attention = ones(3, 70, dtype: ScalarType.Int64);
        attention[1].narrow(0, 0, 20).fill_(0);
        attention[2].narrow(0, 50, 20).fill_(0);
        var real = attention.to(ScalarType.Float32).unsqueeze(-1);
        Tensor evaluated, trained, evaluatedPadded, trainedPadded;
        using (no_grad())
        {
            evaluated = model.Forward(ids);
            evaluatedPadded = model.Forward(ids, attention);
        }

        model.train();
        trained = model.Forward(ids);
        trainedPadded = model.Forward(ids, attention);
        model.eval();
        Assert.True(trained.requires_grad);
        TestUtil.AssertClose(trained, evaluated, 1e-5, 1e-5);
        TestUtil.AssertClose(trainedPadded * real, evaluatedPadded * real, 1e-5, 1e-5);
    }

    private static (Tensor Query, Tensor Keys, Tensor Values) Inputs(int batch, int heads, int kvHeads, int dim, int length, Generator generator)
    {
        // The query as the layer makes it: (batch, T, heads, dim) seen as (batch, heads, T, dim).
        var query = randn(batch, length, heads, dim, generator: generator).transpose(1, 2).requires_grad_();
        var keys = randn(batch, kvHeads, length, dim, generator: generator).requires_grad_();
        var values = randn(batch, kvHeads, length, dim, generator: generator).requires_grad_();
        return (query, keys, values);
    }

    /// <summary>SDPA over key-value heads repeated per query head, as <c>(batch, T, heads·dim)</c>.</summary>
    private static Tensor Reference(Tensor query, Tensor keys, Tensor values, Tensor? mask)
    {
        var (batch, heads, length, dim) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3]);
        var repeat = heads / keys.shape[1];
        var context = nn.functional.scaled_dot_product_attention(query, keys.repeat_interleave(repeat, dim: 1),
            values.repeat_interleave(repeat, dim: 1), mask, 0.0, is_casual: mask is null);
        return context.transpose(1, 2).reshape(batch, length, heads * dim);
    }

    private static Tensor[] Gradients(Tensor output, Tensor weights, params Tensor[] inputs) =>
        autograd.grad([(output * weights).sum()], inputs).ToArray();
}
