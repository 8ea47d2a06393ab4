using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// A task made of a user's module and loss function: <c>loss(model(input), target)</c> over the
/// batches a delegate supplies, with an optional evaluation delegate. The smallest way to put any
/// <see cref="nn.Module{T, TResult}"/> on the <see cref="TrainingLoop"/>.
/// </summary>
public sealed class LossTask : TrainingTask
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly Func<int, int, (Tensor Input, Tensor Target)> _batch;
    private readonly Func<Tensor, Tensor, Tensor> _lossFunction;
    private readonly Func<Evaluation>? _evaluate;
    private readonly IReadOnlyList<string> _metricNames;

    /// <summary>
    /// Creates the task. <paramref name="batch"/> maps (epoch, position in the epoch) to an input and
    /// its target (a function of its arguments, for resumable runs); <paramref name="lossFunction"/>
    /// maps (output, target) to a scalar loss. With <paramref name="evaluate"/>, the loop evaluates
    /// with it and <paramref name="metricNames"/> names the metrics it reports.
    /// </summary>
    public LossTask(nn.Module<Tensor, Tensor> model, int batchesPerEpoch, Func<int, int, (Tensor Input, Tensor Target)> batch, Func<Tensor, Tensor, Tensor> lossFunction, Func<Evaluation>? evaluate = null, IReadOnlyList<string>? metricNames = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(lossFunction);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchesPerEpoch, 1);
        if (evaluate is not null && metricNames is not { Count: > 0 })
        {
            throw new ArgumentException("an evaluation needs the names of the metrics it reports", nameof(metricNames));
        }

        _model = model;
        BatchesPerEpoch = batchesPerEpoch;
        _batch = batch;
        _lossFunction = lossFunction;
        _evaluate = evaluate;
        _metricNames = evaluate is null ? [] : metricNames!;
    }

    /// <inheritdoc />
    public override nn.Module Model => _model;

    /// <inheritdoc />
    public override int BatchesPerEpoch { get; }

    /// <inheritdoc />
    public override IReadOnlyList<string> MetricNames => _metricNames;

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        var (input, target) = _batch(epoch, batch);
        return _lossFunction(_model.call(input), target);
    }

    /// <inheritdoc />
    public override Evaluation Evaluate(IProgress<TrainingProgress>? progress = null) =>
        _evaluate?.Invoke() ?? base.Evaluate(progress);
}
