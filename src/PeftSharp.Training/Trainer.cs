using PeftSharp.Adapters;
using PeftSharp.Models;

namespace PeftSharp.Training;

/// <summary>
/// Fine-tunes the adapters of a sequence-classification model: a <see cref="SequenceClassificationTask"/>
/// on the <see cref="TrainingLoop"/> with the optimizer groups of <see cref="ParameterGroups.ForAdapter"/>
/// (see those types for the schedule, checkpoints, evaluation and the NaN guard). Other tasks use
/// <see cref="TrainingLoop"/> directly.
/// </summary>
public sealed class Trainer
{
    private readonly PretrainedModel _model;
    private readonly TextTokenizer _tokenizer;
    private readonly TrainerOptions _options;
    private readonly TextWriter _log;
    private readonly IProgress<TrainingProgress>? _progress;

    /// <summary>Creates a trainer for <paramref name="peft"/>'s active adapter on <paramref name="model"/>; <paramref name="log"/> gets progress lines, <paramref name="progress"/> a report after every step.</summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is not a sequence classifier.</exception>
    /// <exception cref="PeftConfigurationException"><see cref="TrainerOptions.Metric"/> is not accuracy, macro_f1 or mcc.</exception>
    public Trainer(PretrainedModel model, PeftModel peft, TextTokenizer tokenizer, TrainerOptions options, TextWriter? log = null, IProgress<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (model.Task != ModelTask.SequenceClassification)
        {
            throw new ArgumentException($"the trainer fine-tunes sequence classifiers; {model.ArchitectureName} is not one", nameof(model));
        }

        options.CheckMetric(SequenceClassificationTask.ClassificationMetrics);

        _model = model;
        Peft = peft;
        _tokenizer = tokenizer;
        _options = options;
        _log = log ?? TextWriter.Null;
        _progress = progress;
    }

    /// <summary>The adapted model the trainer works on.</summary>
    public PeftModel Peft { get; }

    /// <summary>
    /// A trainer (for <see cref="Evaluate(ClassificationDataset)"/>) over a fresh copy of the base model in
    /// <paramref name="baseDirectory"/> carrying the adapter saved in <paramref name="adapterDirectory"/>
    /// in its published form (e.g. AdaLoRA at its kept ranks, as a run's <c>best/</c> folder holds it).
    /// </summary>
    public static Trainer ForSavedAdapter(string baseDirectory, string adapterDirectory, IReadOnlyList<string> labels, TextTokenizer tokenizer, TrainerOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var model = PretrainedModel.ForSequenceClassification(baseDirectory, labels, out _);
        var peft = PeftModel.FromPretrained(model, adapterDirectory);
        return new Trainer(model, peft, tokenizer, options with { OutputDirectory = null }, log);
    }

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/>; with <paramref name="resume"/>, continues from
    /// the checkpoint in the output directory (a run killed at any moment resumes to the same result as an uninterrupted one).
    /// Without it, the output directory's metrics.jsonl, ranks.jsonl and checkpoint of an earlier run are replaced.
    /// Cancelling <paramref name="cancellationToken"/> stops the run at the next step boundary with a checkpoint
    /// (see <see cref="TrainingLoop.Run"/>).
    /// </summary>
    /// <exception cref="TrainingCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public TrainResult Train(ClassificationDataset train, ClassificationDataset? validation, bool resume = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        _options.Validate();
        var task = new SequenceClassificationTask(_model, _tokenizer, train, validation, _options.BatchSize, _options.MaxLength, _options.Seed);
        var loop = new TrainingLoop(task, _options, ParameterGroups.ForAdapter(Peft, _options), Peft, _log, _progress);
        var outcome = loop.Run(resume, cancellationToken);
        var evaluations = outcome.Evaluations.Select(SequenceClassificationTask.ToResult).ToList();
        var best = outcome.Best is null ? null : SequenceClassificationTask.ToResult(outcome.Best);
        return new TrainResult(outcome.Steps, outcome.Losses, evaluations, best, outcome.SecondsPerStep);
    }

    /// <summary>Loss and metrics of the model on <paramref name="data"/> (eval mode, no gradient).</summary>
    public EvaluationResult Evaluate(ClassificationDataset data) => Evaluate(data, null);

    /// <summary>Loss and metrics of the model on <paramref name="data"/>, reporting each batch to <paramref name="progress"/>.</summary>
    public EvaluationResult Evaluate(ClassificationDataset data, IProgress<TrainingProgress>? progress) =>
        new SequenceClassificationTask(_model, _tokenizer, train: null, validation: null, _options.BatchSize, _options.MaxLength, _options.Seed).Evaluate(data, progress);
}
