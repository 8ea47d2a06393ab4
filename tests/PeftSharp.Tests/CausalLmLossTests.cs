using PeftSharp.Training.CausalLanguageModeling;
using Xunit;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

public sealed class CausalLmLossTests
{
    [Fact]
    public void ShiftsLabelsAndSkipsIgnoredPositions()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var logits = randn(2, 4, 5);
        var labels = tensor(new long[] { 1, -100, 2, 3, 4, 0, -100, -100 }).view(2, 4);

        var loss = CausalLmLoss.Compute(logits, labels).item<float>();

        // By hand: position t predicts label t+1; supervised targets are (0,2)→2 from logits[0,1],
        // (0,3)→3 from logits[0,2], (1,1)→0 from logits[1,0].
        var logProbabilities = nn.functional.log_softmax(logits, 2);
        var expected = -(logProbabilities[0, 1, 2] + logProbabilities[0, 2, 3] + logProbabilities[1, 0, 0]).item<float>() / 3;
        Assert.Equal(expected, loss, 5);
    }

    [Fact]
    public void RefusesABatchWithNothingSupervised()
    {
        using var scope = NewDisposeScope();
        var labels = full(1, 3, IgnoreIndexValue(), dtype: ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => CausalLmLoss.Compute(randn(1, 3, 4), labels));
        Assert.Throws<ArgumentException>(() => CausalLmLoss.Compute(randn(1, 3, 4), zeros(1, 2, dtype: ScalarType.Int64)));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(1000)]
    public void TheChunkedLossEqualsTheHeadFollowedByTheLossInValueAndGradients(int chunk)
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var labels = randint(0, 50, [2, 9]);
        labels[0, 3] = tensor(CausalLmLoss.IgnoreIndex);
        labels[1, 0] = tensor(CausalLmLoss.IgnoreIndex);
        labels[1, 6] = tensor(CausalLmLoss.IgnoreIndex);
        var hidden = randn(2, 9, 8).requires_grad_();
        var weight = randn(50, 8).requires_grad_();
        var expected = CausalLmLoss.Compute(nn.functional.linear(hidden, weight), labels);
        var (expectedHidden, expectedWeight) = Gradients(expected, hidden, weight);

        var loss = ChunkedCausalLmLoss.Compute(hidden, weight, labels, chunk);
        var (hiddenGrad, weightGrad) = Gradients(loss * 3, hidden, weight);
        AssertClose(expected.item<float>(), loss.item<float>());
        Assert.True((hiddenGrad - (3 * expectedHidden)).abs().max().item<float>() < 1e-6, "hidden gradient differs");
        Assert.True((weightGrad - (3 * expectedWeight)).abs().max().item<float>() < 1e-6, "weight gradient differs");
        Assert.Equal(0, hiddenGrad[.., -1].abs().max().item<float>());

        // A frozen head (LoRA) gets no gradient; without gradient only the value is computed.
        var frozen = weight.detach();
        var (onlyHidden, _) = Gradients(ChunkedCausalLmLoss.Compute(hidden, frozen, labels, chunk), hidden, null);
        Assert.True((onlyHidden - expectedHidden).abs().max().item<float>() < 1e-6);
        using (no_grad())
        {
            AssertClose(expected.item<float>(), ChunkedCausalLmLoss.Compute(hidden, weight, labels, chunk).item<float>());
        }
    }

    [Fact]
    public void TheChunkedLossOfAPeakedHeadEqualsTheHeadFollowedByTheLoss()
    {
        // Logit gaps of hundreds: most exp(shifted logit) underflow, which the loss floors (ExpFloor).
        using var scope = NewDisposeScope();
        manual_seed(8);
        var labels = randint(0, 300, [2, 6]);
        var hidden = randn(2, 6, 32).requires_grad_();
        var weight = randn(300, 32) * 8;
        var expected = CausalLmLoss.Compute(nn.functional.linear(hidden, weight), labels);
        var (expectedHidden, _) = Gradients(expected, hidden, null);
        var spread = (nn.functional.linear(hidden, weight).amax(-1) - nn.functional.linear(hidden, weight).amin(-1)).min().item<float>();
        Assert.True(spread > 200, $"the logits should span hundreds, got {spread}");

        var loss = ChunkedCausalLmLoss.Compute(hidden, weight, labels, 4);
        var (hiddenGrad, _) = Gradients(loss, hidden, null);
        AssertClose(expected.item<float>(), loss.item<float>());
        var scale = expectedHidden.abs().max().item<float>();
        Assert.True((hiddenGrad - expectedHidden).abs().max().item<float>() < 1e-5 * scale, "hidden gradient differs");
    }

    [Fact]
    public void TheChunkedLossOfABf16BaseScoresTheBf16LogitsInFp32()
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        var labels = randint(0, 40, [2, 7]);
        labels[1, 2] = tensor(CausalLmLoss.IgnoreIndex);
        var hidden = randn(2, 7, 16).to(ScalarType.BFloat16).requires_grad_();
        var weight = randn(40, 16).to(ScalarType.BFloat16);
        var expected = CausalLmLoss.Compute(nn.functional.linear(hidden, weight).to(ScalarType.Float32), labels);
        var (expectedHidden, _) = Gradients(expected, hidden, null);

        var loss = ChunkedCausalLmLoss.Compute(hidden, weight, labels, 4);
        var (hiddenGrad, _) = Gradients(loss, hidden, null);

        AssertClose(expected.item<float>(), loss.item<float>());
        Assert.Equal(ScalarType.BFloat16, hiddenGrad.dtype);

        // Both round the gradient through bf16, at different points: within a few bf16 steps of the largest entry.
        var scale = expectedHidden.abs().max().to(ScalarType.Float32).item<float>();
        var difference = (hiddenGrad.to(ScalarType.Float32) - expectedHidden.to(ScalarType.Float32)).abs().max().item<float>();
        Assert.True(difference < 0.03 * scale, $"bf16 hidden gradient differs by {difference} (largest entry {scale})");
    }

    [Fact]
    public void TheChunkedLossRefusesMismatchedShapesAndNothingSupervised()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => ChunkedCausalLmLoss.Compute(randn(1, 3, 4), randn(10, 5), zeros(1, 3, dtype: ScalarType.Int64)));
        Assert.Throws<ArgumentException>(() => ChunkedCausalLmLoss.Compute(randn(1, 3, 4), randn(10, 4), zeros(1, 2, dtype: ScalarType.Int64)));
        Assert.Throws<ArgumentException>(() => ChunkedCausalLmLoss.Compute(randn(1, 3, 4), randn(10, 4), full(1, 3, IgnoreIndexValue(), dtype: ScalarType.Int64)));
    }

    private static (Tensor Hidden, Tensor Weight) Gradients(Tensor loss, Tensor hidden, Tensor? weight)
    {
        var grads = autograd.grad([loss], weight is null ? [hidden] : [hidden, weight]);
        return (grads[0], weight is null ? null! : grads[1]);
    }

    /// <summary>Equal within 1e-6 relative (fp32 rounding of the two summation orders).</summary>
    private static void AssertClose(float expected, float actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-6 * Math.Abs(expected), $"{actual} is not within 1e-6 of {expected}");

    private static long IgnoreIndexValue() => CausalLmLoss.IgnoreIndex;
}
