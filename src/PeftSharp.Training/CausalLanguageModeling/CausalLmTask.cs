using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using static TorchSharp.torch;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// Causal-LM fine-tuning (SFT): the loss of a micro-batch is <see cref="CausalLmLoss"/> (shifted
/// cross-entropy, mean over the batch's supervised tokens; see <see cref="TrainingLoss"/>); evaluation reports the validation loss (mean
/// over every supervised token of the split) and its perplexity, plus any <see cref="ICausalLmMetrics"/>
/// given. Batches come from an <see cref="ICausalLmBatcher"/>, a function of (seed, epoch, index), so a
/// resumed run is byte-exact.
/// </summary>
public sealed class CausalLmTask : TrainingTask
{
    /// <summary>The perplexity metric: exp of the mean token loss over the validation split (lower is better).</summary>
    public const string Perplexity = "perplexity";

    private readonly PretrainedModel _model;
    private readonly ICausalLmBatcher? _train;
    private readonly ICausalLmBatcher? _validation;
    private readonly ICausalLmMetrics? _metrics;

    /// <summary>Creates the task: <paramref name="train"/> feeds <see cref="Loss"/> (null: evaluation only), <paramref name="validation"/> feeds <see cref="Evaluate"/> (null: none), with <paramref name="metrics"/> added to it.</summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is not a causal LM.</exception>
    public CausalLmTask(PretrainedModel model, ICausalLmBatcher? train, ICausalLmBatcher? validation = null, ICausalLmMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Task != ModelTask.CausalLanguageModeling)
        {
            throw new ArgumentException($"the causal-LM task trains causal language models; {model.ArchitectureName} is not one", nameof(model));
        }

        _model = model;
        _train = train;
        _validation = validation;
        _metrics = metrics;
    }

    /// <inheritdoc />
    public override nn.Module Model => _model;

    /// <inheritdoc />
    public override int BatchesPerEpoch => Training.BatchesPerEpoch;

    /// <inheritdoc />
    public override IReadOnlyList<string> MetricNames => _validation is null ? [] : [Perplexity, .. _metrics?.MetricNames ?? []];

    private ICausalLmBatcher Training => _train ?? throw new InvalidOperationException("the task has no training data");

    /// <inheritdoc />
    public override bool IsHigherBetter(string metric) => metric != Perplexity && (_metrics?.IsHigherBetter(metric) ?? true);

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        return TrainingLoss(_model, Training.Batch(epoch, batch));
    }

    /// <summary>
    /// The training loss of <paramref name="model"/> on <paramref name="batch"/>: for a decoder with a
    /// plain output head, the head and the loss fused and chunked over tokens (<see cref="ChunkedCausalLmLoss"/>:
    /// same value and gradients, without the batch's full logits in memory); otherwise the logits and <see cref="CausalLmLoss"/>.
    /// </summary>
    public static Tensor TrainingLoss(PretrainedModel model, CausalLmBatch batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        if (model is DecoderForCausalLM { PlainOutputWeight: { } head } decoder)
        {
            return ChunkedCausalLmLoss.Compute(decoder.Backbone.Forward(batch.InputIds, batch.AttentionMask, batch.PositionIds, cache: null), head, batch.Labels);
        }

        return CausalLmLoss.Compute(Logits(model, batch), batch.Labels);
    }

    /// <inheritdoc />
    public override Evaluation Evaluate(IProgress<TrainingProgress>? progress = null)
    {
        var (loss, _) = ValidationLoss(progress);
        var metrics = new OrderedDictionary<string, double> { [Perplexity] = Math.Exp(loss) };
        foreach (var (name, value) in _metrics?.Compute(progress) ?? new Dictionary<string, double>())
        {
            metrics[name] = value;
        }

        return new Evaluation(0, loss, metrics);
    }

    /// <summary>The mean token loss over the whole validation split (the sum of <see cref="CausalLmLoss.Sum"/> over its batches by the supervised tokens) and that token count; eval mode, no gradient.</summary>
    /// <exception cref="NotSupportedException">The task has no validation data.</exception>
    public (double Loss, long Tokens) ValidationLoss(IProgress<TrainingProgress>? progress = null)
    {
        var data = _validation ?? throw new NotSupportedException("the task has no validation data");
        _model.eval();
        using var noGrad = no_grad();
        double sum = 0;
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        var batches = data.BatchesPerEpoch;
        for (var index = 0; index < batches; index++)
        {
            using var scope = NewDisposeScope();
            var batch = data.Batch(0, index);
            var (batchSum, count) = CausalLmLoss.Sum(Logits(_model, batch), batch.Labels);
            sum += batchSum.to(ScalarType.Float64).item<double>();
            tokens += count;
            if (progress is not null)
            {
                var perBatch = clock.Elapsed.TotalSeconds / (index + 1);
                progress.Report(new TrainingProgress(index + 1, batches, sum / Math.Max(tokens, 1), 0, 1 / perBatch, TimeSpan.FromSeconds(perBatch * (batches - index - 1))));
            }
        }

        return (tokens == 0 ? double.NaN : sum / tokens, tokens);
    }

    private static Tensor Logits(PretrainedModel model, CausalLmBatch batch) => model is DecoderForCausalLM decoder
        ? decoder.Forward(batch.InputIds, batch.AttentionMask, batch.PositionIds, cache: null, lastPositionOnly: false)
        : model.Forward(batch.InputIds, batch.AttentionMask);
}
