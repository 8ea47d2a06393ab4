using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// What a <see cref="TrainingLoop"/> trains: a model, its data, how a batch becomes a loss, and how
/// the model is evaluated. The loop knows nothing else of the task. Sequence classification
/// (<see cref="SequenceClassificationTask"/>), masked-LM pretraining
/// (<see cref="MaskedLanguageModelingTask"/>) and any module plus loss function
/// (<see cref="LossTask"/>) are tasks; a causal-LM task returns the next-token loss of a batch of
/// token ids with labels and may generate in <see cref="Evaluate"/>.
/// </summary>
public abstract class TrainingTask
{
    /// <summary>The model whose parameters are trained (the loop switches it between train and eval mode).</summary>
    public abstract nn.Module Model { get; }

    /// <summary>Micro-batches in one pass over the training data.</summary>
    public abstract int BatchesPerEpoch { get; }

    /// <summary>
    /// The mean loss of micro-batch <paramref name="batch"/> of epoch <paramref name="epoch"/>, with
    /// its graph for backward. The loop calls it in train mode inside the step's dispose scope, so
    /// every tensor made here is freed at the end of the step. For resumable runs the batch should be
    /// a function of (<paramref name="epoch"/>, <paramref name="batch"/>) alone; a
    /// <paramref name="batch"/> at or beyond <see cref="BatchesPerEpoch"/> (gradient accumulation
    /// rounding up an epoch) may repeat any batch of the epoch.
    /// </summary>
    public abstract Tensor Loss(int epoch, int batch);

    /// <summary>The metrics <see cref="Evaluate"/> reports (see <see cref="IsHigherBetter"/>), empty when the task has no evaluation data.</summary>
    public virtual IReadOnlyList<string> MetricNames => [];

    /// <summary>True when a larger value of <paramref name="metric"/> is better (accuracy; the default), false when smaller is (perplexity, an error rate).</summary>
    public virtual bool IsHigherBetter(string metric) => true;

    /// <summary>
    /// Loss and metrics of the model on the task's evaluation data. The loop calls it in eval mode
    /// without gradients; <paramref name="progress"/> gets a report per batch. The returned
    /// <see cref="Evaluation.Step"/> is set by the caller.
    /// </summary>
    /// <exception cref="NotSupportedException">The task has no evaluation data (<see cref="MetricNames"/> is empty).</exception>
    public virtual Evaluation Evaluate(IProgress<TrainingProgress>? progress = null) =>
        throw new NotSupportedException($"{GetType().Name} has no evaluation data");

    /// <summary>One log line's worth of <paramref name="evaluation"/>: <c>loss 0.1234  name 0.5678 …</c>.</summary>
    public virtual string Describe(Evaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        return string.Join("  ", evaluation.Metrics.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key} {m.Value:F4}")).Prepend(string.Create(CultureInfo.InvariantCulture, $"loss {evaluation.Loss:F4}")));
    }
}
