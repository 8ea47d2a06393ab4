using System.Diagnostics;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// Sequence classification: texts are tokenized into padded batches, the loss is the cross-entropy
/// of the classifier's logits, and evaluation reports accuracy, macro-F1 and MCC. The training
/// order is shuffled per epoch from (seed, epoch), so a batch is a function of its position.
/// </summary>
public sealed class SequenceClassificationTask : TrainingTask
{
    /// <summary>The metrics the task reports.</summary>
    public static IReadOnlyList<string> ClassificationMetrics { get; } = ["accuracy", "macro_f1", "mcc"];

    private readonly PretrainedModel _model;
    private readonly TextTokenizer _tokenizer;
    private readonly ClassificationDataset? _train;
    private readonly ClassificationDataset? _validation;
    private readonly int _batchSize;
    private readonly int _maxLength;
    private readonly int _seed;
    private (int Epoch, int[] Order)? _epochOrder;

    /// <summary>
    /// Creates the task: <paramref name="train"/> feeds <see cref="Loss"/> (null: evaluation only),
    /// <paramref name="validation"/> feeds <see cref="Evaluate(IProgress{TrainingProgress})"/> (null: none);
    /// batches hold <paramref name="batchSize"/> texts of at most <paramref name="maxLength"/> tokens.
    /// </summary>
    public SequenceClassificationTask(PretrainedModel model, TextTokenizer tokenizer, ClassificationDataset? train, ClassificationDataset? validation, int batchSize, int maxLength, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (model.Task != ModelTask.SequenceClassification)
        {
            throw new ArgumentException($"the trainer fine-tunes sequence classifiers; {model.ArchitectureName} is not one", nameof(model));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _model = model;
        _tokenizer = tokenizer;
        _train = train;
        _validation = validation;
        _batchSize = batchSize;
        _maxLength = maxLength;
        _seed = seed;
    }

    /// <inheritdoc />
    public override nn.Module Model => _model;

    /// <inheritdoc />
    public override int BatchesPerEpoch => (int)Math.Ceiling(TrainingData.Examples.Count / (double)_batchSize);

    /// <inheritdoc />
    public override IReadOnlyList<string> MetricNames => _validation is null ? [] : ClassificationMetrics;

    private ClassificationDataset TrainingData => _train ?? throw new InvalidOperationException("the task has no training data");

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        var data = TrainingData;
        var order = EpochOrder(epoch);
        var slice = order.Skip(batch * _batchSize).Take(_batchSize).Select(i => data.Examples[i]).ToList();
        if (slice.Count == 0)
        {
            slice = order.Take(_batchSize).Select(i => data.Examples[i]).ToList();
        }

        var encoded = _tokenizer.EncodeBatch(slice.Select(e => e.Text).ToList(), _maxLength);
        var labels = tensor(slice.Select(e => (long)e.Label).ToArray());
        return nn.functional.cross_entropy(_model.Forward(encoded.InputIds, encoded.AttentionMask), labels);
    }

    /// <inheritdoc />
    public override Evaluation Evaluate(IProgress<TrainingProgress>? progress = null)
    {
        var result = Evaluate(_validation ?? throw new NotSupportedException("the task has no validation data"), progress);
        return ToEvaluation(result);
    }

    /// <summary>Loss, accuracy, macro-F1 and MCC of the model on <paramref name="data"/> (eval mode, no gradient), reporting each batch to <paramref name="progress"/>.</summary>
    public EvaluationResult Evaluate(ClassificationDataset data, IProgress<TrainingProgress>? progress)
    {
        ArgumentNullException.ThrowIfNull(data);
        _model.eval();
        using var noGrad = no_grad();
        var predicted = new List<int>();
        double loss = 0;
        var clock = Stopwatch.StartNew();
        var batches = (data.Examples.Count + _batchSize - 1) / _batchSize;
        for (var start = 0; start < data.Examples.Count; start += _batchSize)
        {
            if (progress is not null && start > 0)
            {
                var done = start / _batchSize;
                var perBatch = clock.Elapsed.TotalSeconds / done;
                progress.Report(new TrainingProgress(done, batches, loss / start, 0, 1 / perBatch, TimeSpan.FromSeconds(perBatch * (batches - done))));
            }

            using var scope = NewDisposeScope();
            var slice = data.Examples.Skip(start).Take(_batchSize).ToList();
            using var batch = _tokenizer.EncodeBatch(slice.Select(e => e.Text).ToList(), _maxLength);
            var labels = tensor(slice.Select(e => (long)e.Label).ToArray());
            var logits = _model.Forward(batch.InputIds, batch.AttentionMask);
            loss += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            predicted.AddRange(logits.argmax(1).data<long>().Select(v => (int)v));
        }

        var actual = data.Examples.Select(e => e.Label).ToList();
        return new EvaluationResult(0, loss / data.Examples.Count, Metrics.Accuracy(predicted, actual), Metrics.MacroF1(predicted, actual), Metrics.Mcc(predicted, actual));
    }

    /// <inheritdoc />
    public override string Describe(Evaluation evaluation)
    {
        var result = ToResult(evaluation);
        return string.Create(CultureInfo.InvariantCulture, $"loss {result.Loss:F4}  accuracy {result.Accuracy:P2}  macro-F1 {result.MacroF1:F4}  MCC {result.Mcc:F4}");
    }

    /// <summary>The classification view of a generic evaluation this task produced.</summary>
    public static EvaluationResult ToResult(Evaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        return new EvaluationResult(evaluation.Step, evaluation.Loss, evaluation.Metrics["accuracy"], evaluation.Metrics["macro_f1"], evaluation.Metrics["mcc"]);
    }

    private static Evaluation ToEvaluation(EvaluationResult result) =>
        new(result.Step, result.Loss, new OrderedDictionary<string, double> { ["accuracy"] = result.Accuracy, ["macro_f1"] = result.MacroF1, ["mcc"] = result.Mcc });

    /// <summary>The shuffled example order of <paramref name="epoch"/> (a function of seed and epoch), computed once per epoch.</summary>
    private int[] EpochOrder(int epoch)
    {
        if (_epochOrder is { } cached && cached.Epoch == epoch)
        {
            return cached.Order;
        }

        var order = Enumerable.Range(0, TrainingData.Examples.Count).ToArray();
        new Random(_seed + epoch).Shuffle(order);
        _epochOrder = (epoch, order);
        return order;
    }
}
