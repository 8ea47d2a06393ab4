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

    private static long IgnoreIndexValue() => CausalLmLoss.IgnoreIndex;
}
