using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>Learning-rate schedule after warm-up.</summary>
public enum LearningRateSchedule
{
    /// <summary>Linear decay to 0.</summary>
    Linear,

    /// <summary>Cosine decay to 0.</summary>
    Cosine,

    /// <summary>Constant.</summary>
    Constant,
}

/// <summary>Settings of a fine-tuning run.</summary>
public sealed record TrainerOptions
{
    /// <summary>Passes over the training set (ignored when <see cref="MaxSteps"/> is set).</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>Total optimizer steps, overriding <see cref="Epochs"/>.</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Examples per micro-batch.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Peak learning rate of the adapter parameters.</summary>
    public double LearningRate { get; init; } = 5e-4;

    /// <summary>Learning rate of <c>modules_to_save</c> copies and trained biases (default: <see cref="LearningRate"/>).</summary>
    public double? HeadLearningRate { get; init; }

    /// <summary>Decoupled weight decay of the adapter parameters.</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Learning rates of named parameter groups (a method's <c>ParameterGroupOf</c>, or <c>head</c>), overriding the defaults.</summary>
    public IReadOnlyDictionary<string, double>? GroupLearningRates { get; init; }

    /// <summary>Weight decays of named parameter groups, overriding the defaults (adapter: <see cref="WeightDecay"/>, head: 0).</summary>
    public IReadOnlyDictionary<string, double>? GroupWeightDecays { get; init; }

    /// <summary>Share of the steps used for linear warm-up.</summary>
    public double WarmupRatio { get; init; } = 0.06;

    /// <summary>Schedule after warm-up.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Linear;

    /// <summary>Global gradient-norm clipping (0: off).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Evaluate every this many optimizer steps (0: at the end of every epoch).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Metric for best-checkpoint keeping and early stopping: accuracy, macro_f1 or mcc.</summary>
    public string Metric { get; init; } = "accuracy";

    /// <summary>Stop after this many evaluations without improvement (null: never).</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>Tokens per example (longer texts are truncated).</summary>
    public int MaxLength { get; init; } = 128;

    /// <summary>Seed of data order and dropout; a run is a function of it.</summary>
    public int Seed { get; init; }

    /// <summary>Where metrics.jsonl, the best adapter and the resume checkpoint go (null: nowhere).</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Save the resume checkpoint every this many optimizer steps, besides after every evaluation (0: only after evaluations).</summary>
    public int SaveEvery { get; init; }

    /// <summary>Print a progress line every this many steps (0: never).</summary>
    public int LogEvery { get; init; } = 50;

    /// <summary>Stop after this many optimizer steps as if interrupted (the schedule still spans the full run); for time-boxed runs and tests.</summary>
    public int? StopAfterSteps { get; init; }

    /// <summary>Total optimizer steps for <paramref name="examples"/> training examples.</summary>
    public int TotalSteps(int examples) =>
        MaxSteps ?? Epochs * (int)Math.Ceiling(examples / (double)(BatchSize * GradientAccumulation));

    /// <summary>Checks every setting before a run starts.</summary>
    /// <exception cref="PeftConfigurationException">A setting is out of range; the message names it and what it must be.</exception>
    public void Validate()
    {
        static void Require(bool condition, string name, string expected, object? value)
        {
            if (!condition)
            {
                throw new PeftConfigurationException($"trainer option {name} must be {expected}, got {Convert.ToString(value, CultureInfo.InvariantCulture)}");
            }
        }

        static bool Rate(double value) => double.IsFinite(value) && value >= 0;
        Require(Epochs >= 1 || MaxSteps is not null, nameof(Epochs), "at least 1", Epochs);
        Require(MaxSteps is null or >= 1, nameof(MaxSteps), "at least 1", MaxSteps);
        Require(BatchSize >= 1, nameof(BatchSize), "at least 1", BatchSize);
        Require(GradientAccumulation >= 1, nameof(GradientAccumulation), "at least 1", GradientAccumulation);
        Require(Rate(LearningRate), nameof(LearningRate), "a finite number ≥ 0", LearningRate);
        Require(HeadLearningRate is null || Rate(HeadLearningRate.Value), nameof(HeadLearningRate), "a finite number ≥ 0", HeadLearningRate);
        Require(Rate(WeightDecay), nameof(WeightDecay), "a finite number ≥ 0", WeightDecay);
        foreach (var (group, rate) in GroupLearningRates ?? new Dictionary<string, double>())
        {
            Require(Rate(rate), $"{nameof(GroupLearningRates)}[{group}]", "a finite number ≥ 0", rate);
        }

        foreach (var (group, decay) in GroupWeightDecays ?? new Dictionary<string, double>())
        {
            Require(Rate(decay), $"{nameof(GroupWeightDecays)}[{group}]", "a finite number ≥ 0", decay);
        }

        Require(WarmupRatio is >= 0 and < 1, nameof(WarmupRatio), "in [0, 1)", WarmupRatio);
        Require(Rate(MaxGradNorm), nameof(MaxGradNorm), "a finite number ≥ 0 (0: no clipping)", MaxGradNorm);
        Require(EvalEvery >= 0, nameof(EvalEvery), "≥ 0", EvalEvery);
        Require(SaveEvery >= 0, nameof(SaveEvery), "≥ 0", SaveEvery);
        Require(MaxLength >= 2, nameof(MaxLength), "at least 2", MaxLength);
        Require(Metric is "accuracy" or "macro_f1" or "mcc", nameof(Metric), "accuracy, macro_f1 or mcc", Metric);
        Require(EarlyStoppingPatience is null or >= 1, nameof(EarlyStoppingPatience), "at least 1", EarlyStoppingPatience);
        Require(StopAfterSteps is null or >= 1, nameof(StopAfterSteps), "at least 1", StopAfterSteps);
    }
}

/// <summary>One evaluation.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Accuracy">Accuracy.</param>
/// <param name="MacroF1">Macro-F1.</param>
/// <param name="Mcc">Matthews correlation.</param>
public sealed record EvaluationResult(int Step, double Loss, double Accuracy, double MacroF1, double Mcc)
{
    /// <summary>The named metric.</summary>
    public double Get(string metric) => metric switch
    {
        "accuracy" => Accuracy,
        "macro_f1" => MacroF1,
        "mcc" => Mcc,
        _ => throw new ArgumentException($"unknown metric '{metric}'", nameof(metric)),
    };
}

/// <summary>What a run did.</summary>
/// <param name="Steps">Optimizer steps done.</param>
/// <param name="Losses">Training loss of every step.</param>
/// <param name="Evaluations">Every evaluation.</param>
/// <param name="Best">The best evaluation (null without an evaluation set).</param>
/// <param name="SecondsPerStep">Mean wall time per optimizer step.</param>
public sealed record TrainResult(int Steps, IReadOnlyList<double> Losses, IReadOnlyList<EvaluationResult> Evaluations, EvaluationResult? Best, double SecondsPerStep);

/// <summary>Where a run is, reported after every optimizer step.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="Total">Optimizer steps planned.</param>
/// <param name="Loss">This step's training loss.</param>
/// <param name="LearningRate">This step's adapter learning rate.</param>
/// <param name="StepsPerSecond">Throughput so far.</param>
/// <param name="Eta">Estimated time to the end.</param>
public sealed record TrainingProgress(int Step, int Total, double Loss, double LearningRate, double StepsPerSecond, TimeSpan Eta);

/// <summary>A run file (metrics, best adapter, checkpoint) could not be written, for example because the disk is full; the previous checkpoint stays on disk.</summary>
public sealed class RunOutputException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public RunOutputException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>A non-finite loss or gradient; the last good checkpoint stays on disk.</summary>
public sealed class NonFiniteTrainingException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteTrainingException(string message) : base(message)
    {
    }
}

/// <summary>
/// Fine-tunes the adapters of a sequence-classification model: AdamW with an adapter group and a
/// head group, warm-up then linear/cosine decay, clipping, gradient accumulation, evaluation with
/// accuracy / macro-F1 / MCC, best-adapter keeping, early stopping, resumable checkpoints and a NaN
/// guard. The method's <see cref="TrainingController"/> is called at its documented points once per
/// optimizer step. Every micro-batch runs in a dispose scope.
/// </summary>
public sealed class Trainer
{
    private readonly PretrainedModel _model;
    private readonly PeftModel _peft;
    private readonly TextTokenizer _tokenizer;
    private readonly TrainerOptions _options;
    private readonly TextWriter _log;
    private readonly IProgress<TrainingProgress>? _progress;
    private (ClassificationDataset Data, int Epoch, int[] Order)? _epochOrder;
    private int _savedStep;

    /// <summary>Creates a trainer for <paramref name="peft"/>'s active adapter on <paramref name="model"/>; <paramref name="log"/> gets progress lines, <paramref name="progress"/> a report after every step.</summary>
    public Trainer(PretrainedModel model, PeftModel peft, TextTokenizer tokenizer, TrainerOptions options, TextWriter? log = null, IProgress<TrainingProgress>? progress = null)
    {
        _progress = progress;
        if (model.Task != ModelTask.SequenceClassification)
        {
            throw new ArgumentException($"the trainer fine-tunes sequence classifiers; {model.ArchitectureName} is not one", nameof(model));
        }

        Metrics.Compute(options.Metric, [], []);
        _model = model;
        _peft = peft;
        _tokenizer = tokenizer;
        _options = options;
        _log = log ?? TextWriter.Null;
    }

    /// <summary>The adapted model the trainer works on.</summary>
    public PeftModel Peft => _peft;

    /// <summary>
    /// A trainer (for <see cref="Evaluate(ClassificationDataset)"/>) over a fresh copy of the base model in
    /// <paramref name="baseDirectory"/> carrying the adapter saved in <paramref name="adapterDirectory"/>
    /// in its published form (e.g. AdaLoRA at its kept ranks, as a run's <c>best/</c> folder holds it).
    /// </summary>
    public static Trainer ForSavedAdapter(string baseDirectory, string adapterDirectory, IReadOnlyList<string> labels, TextTokenizer tokenizer, TrainerOptions options, TextWriter? log = null)
    {
        var model = PretrainedModel.ForSequenceClassification(baseDirectory, labels, out _);
        var peft = PeftModel.FromPretrained(model, adapterDirectory);
        return new Trainer(model, peft, tokenizer, options with { OutputDirectory = null }, log);
    }

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/>; with <paramref name="resume"/>, continues from
    /// the checkpoint in the output directory (a run killed at any moment resumes to the same result as an uninterrupted one).
    /// Without it, the output directory's metrics.jsonl, ranks.jsonl and checkpoint of an earlier run are replaced.
    /// </summary>
    public TrainResult Train(ClassificationDataset train, ClassificationDataset? validation, bool resume = false)
    {
        _options.Validate();
        var total = _options.TotalSteps(train.Examples.Count);
        var controller = _peft.GetController();
        var parameters = _peft.GetTrainableParameters();
        var names = _model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.parameter.Handle, p => p.name);
        var groupOf = new Dictionary<IntPtr, string>();
        foreach (var module in _peft.ModulesOf(_peft.ActiveAdapter))
        {
            var path = module.Layer.GetPath(_peft.ActiveAdapter);
            foreach (var parameter in path.parameters())
            {
                groupOf[parameter.Handle] = path.ParameterGroupOf(parameter);
            }
        }

        var ownedParameters = controller?.OwnedParameters ?? [];
        var owned = new HashSet<IntPtr>(ownedParameters.Select(p => p.Handle));
        var groups = parameters.Where(p => !owned.Contains(p.Handle)).GroupBy(p => groupOf.GetValueOrDefault(p.Handle, "head")).OrderBy(g => g.Key == "head" ? 1 : 0).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        double RateOf(string group) => _options.GroupLearningRates?.TryGetValue(group, out var lr) == true ? lr : group == "head" ? _options.HeadLearningRate ?? _options.LearningRate : _options.LearningRate;
        double DecayOf(string group) => _options.GroupWeightDecays?.TryGetValue(group, out var wd) == true ? wd : group == "head" ? 0.0 : _options.WeightDecay;
        using var optimizer = optim.AdamW([.. groups.Select(g => new AdamW.ParamGroup(g.ToList(), lr: RateOf(g.Key), weight_decay: DecayOf(g.Key)))]);
        var baseRates = groups.Select(g => RateOf(g.Key)).ToArray();

        var state = new RunState();
        JsonNode? lastRankRecord = null;
        if (resume)
        {
            state = LoadCheckpoint(optimizer, controller);
            _savedStep = state.Step;
            TrimRunLog("metrics.jsonl", state.Step);
            lastRankRecord = TrimRunLog("ranks.jsonl", state.Step);
            _log.WriteLine($"resumed at step {state.Step}");
        }
        else
        {
            StartRunLogs();
        }

        var losses = new List<double>(state.Losses);
        var evaluations = new List<EvaluationResult>(state.Evaluations);
        var clock = Stopwatch.StartNew();
        var startStep = state.Step;
        // A resumed run compares the next ranks with the last logged ones, as the uninterrupted run would.
        var lastRanks = !resume ? AppendRanksIfChanged(0, null)
            : lastRankRecord?["ranks"] is JsonObject logged ? logged.ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>())
            : _peft.GetEffectiveRanks();
        if (lastRanks.Values.Distinct().Count() > 1)
        {
            _log.WriteLine($"ranks per module (total {lastRanks.Values.Sum()}): {string.Join(", ", lastRanks.Select(kv => $"{kv.Key} {kv.Value}"))}");
        }
        var stepsPerEpoch = (int)Math.Ceiling(train.Examples.Count / (double)(_options.BatchSize * _options.GradientAccumulation));
        for (var step = state.Step; step < total; step++)
        {
            var multiplier = Multiplier(step, total);
            for (var g = 0; g < optimizer.ParamGroups.Count(); g++)
            {
                optimizer.ParamGroups.ElementAt(g).LearningRate = baseRates[g] * multiplier;
            }

            _model.train();
            manual_seed(_options.Seed * 1_000_003L + step);
            controller?.OnStepBegin(step);
            double stepLoss = 0;
            for (var micro = 0; micro < _options.GradientAccumulation; micro++)
            {
                using var scope = NewDisposeScope();
                var batch = Batch(train, step * _options.GradientAccumulation + micro, stepsPerEpoch * _options.GradientAccumulation);
                var loss = nn.functional.cross_entropy(_model.Forward(batch.Ids, batch.Mask), batch.Labels) / _options.GradientAccumulation;
                if (micro == _options.GradientAccumulation - 1 && controller?.ExtraLoss(step) is { } extra)
                {
                    loss = loss + extra;
                }

                double value = loss.item<float>();
                if (!double.IsFinite(value))
                {
                    throw new NonFiniteTrainingException($"step {step + 1}: the loss is {value}; training stopped, the last checkpoint in {_options.OutputDirectory ?? "(none)"} is intact");
                }

                stepLoss += value;
                loss.backward();
            }

            controller?.OnAfterBackward(step);
            CheckGradients(step, parameters, names);
            if (_options.MaxGradNorm > 0)
            {
                nn.utils.clip_grad_norm_(parameters, _options.MaxGradNorm);
            }

            optimizer.step();
            controller?.OnOptimizerStep(step, _options.LearningRate, multiplier);
            controller?.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
            foreach (var p in ownedParameters)
            {
                p.grad?.zero_();
            }

            losses.Add(stepLoss);
            var done = step + 1;
            AppendRecord("metrics.jsonl", new JsonObject { ["step"] = done, ["loss"] = stepLoss, ["lr"] = baseRates[0] * multiplier });
            lastRanks = AppendRanksIfChanged(done, lastRanks);
            var perStep = clock.Elapsed.TotalSeconds / (done - startStep);
            _progress?.Report(new TrainingProgress(done, total, stepLoss, baseRates[0] * multiplier, 1 / perStep, TimeSpan.FromSeconds(perStep * (total - done))));
            if (_options.LogEvery > 0 && (done % _options.LogEvery == 0 || done == total))
            {
                _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {done}/{total}  loss {losses.TakeLast(_options.LogEvery).Average():F4}  lr {baseRates[0] * multiplier:0.###e+0}  {1 / perStep:F2} steps/s  ETA {TimeSpan.FromSeconds(perStep * (total - done)):hh\\:mm\\:ss}"));
            }

            var evalNow = validation is not null && (_options.EvalEvery > 0 ? done % _options.EvalEvery == 0 || done == total : done % stepsPerEpoch == 0 || done == total);
            var saveNow = evalNow || (_options.SaveEvery > 0 && done % _options.SaveEvery == 0);
            if (saveNow)
            {
                // Once per step that writes parameters (best adapter, checkpoint): none may have overflowed.
                EnsureFiniteParameters(done, parameters, names);
            }

            if (evalNow)
            {
                controller?.OnEvaluationBegin();
                var result = Evaluate(validation!) with { Step = done };
                controller?.OnEvaluationEnd();
                if (!double.IsFinite(result.Loss))
                {
                    throw new NonFiniteTrainingException($"step {done}: the validation loss is {result.Loss} (the learning rate is too high?); training stopped, the last checkpoint is intact");
                }

                evaluations.Add(result);
                AppendRecord("metrics.jsonl", new JsonObject { ["step"] = done, ["eval_loss"] = result.Loss, ["accuracy"] = result.Accuracy, ["macro_f1"] = result.MacroF1, ["mcc"] = result.Mcc });
                _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"eval at step {done}: loss {result.Loss:F4}  accuracy {result.Accuracy:P2}  macro-F1 {result.MacroF1:F4}  MCC {result.Mcc:F4}"));
                var value = result.Get(_options.Metric);
                if (value > state.BestMetric)
                {
                    state = state with { BestMetric = value, BestStep = done, SinceBest = 0 };
                    if (_options.OutputDirectory is { } output)
                    {
                        WriteRunFile("the best adapter", () => AtomicDirectory.Replace(Path.Combine(output, "best"), staging => _peft.SavePretrained(staging, [_peft.ActiveAdapter])));
                    }
                }
                else
                {
                    state = state with { SinceBest = state.SinceBest + 1 };
                }
            }

            state = state with { Step = done, Losses = losses, Evaluations = evaluations };
            if (saveNow)
            {
                WriteRunFile("the checkpoint", () => SaveCheckpoint(state, optimizer, controller));
                _savedStep = done;
                _log.WriteLine($"checkpoint saved at step {done}");
            }

            if (evalNow)
            {
                if (_options.EarlyStoppingPatience is { } patience && state.SinceBest >= patience)
                {
                    _log.WriteLine($"early stopping at step {done}: {patience} evaluations without improvement");
                    break;
                }
            }

            if (_options.StopAfterSteps is { } stop && done >= stop)
            {
                break;
            }
        }

        controller?.OnTrainingEnd();
        var best = evaluations.Count == 0 ? null : evaluations.First(e => e.Step == state.BestStep);
        var ran = state.Step - startStep;
        return new TrainResult(state.Step, losses, evaluations, best, ran == 0 ? 0 : clock.Elapsed.TotalSeconds / ran);
    }

    /// <summary>Loss and metrics of the model on <paramref name="data"/> (eval mode, no gradient).</summary>
    public EvaluationResult Evaluate(ClassificationDataset data) => Evaluate(data, null);

    /// <summary>Loss and metrics of the model on <paramref name="data"/>, reporting each batch to <paramref name="progress"/>.</summary>
    public EvaluationResult Evaluate(ClassificationDataset data, IProgress<TrainingProgress>? progress)
    {
        _model.eval();
        using var noGrad = no_grad();
        var predicted = new List<int>();
        double loss = 0;
        var clock = Stopwatch.StartNew();
        var batches = (data.Examples.Count + _options.BatchSize - 1) / _options.BatchSize;
        for (var start = 0; start < data.Examples.Count; start += _options.BatchSize)
        {
            if (progress is not null && start > 0)
            {
                var done = start / _options.BatchSize;
                var perBatch = clock.Elapsed.TotalSeconds / done;
                progress.Report(new TrainingProgress(done, batches, loss / start, 0, 1 / perBatch, TimeSpan.FromSeconds(perBatch * (batches - done))));
            }

            using var scope = NewDisposeScope();
            var slice = data.Examples.Skip(start).Take(_options.BatchSize).ToList();
            using var batch = _tokenizer.EncodeBatch(slice.Select(e => e.Text).ToList(), _options.MaxLength);
            var labels = tensor(slice.Select(e => (long)e.Label).ToArray());
            var logits = _model.Forward(batch.InputIds, batch.AttentionMask);
            loss += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            predicted.AddRange(logits.argmax(1).data<long>().Select(v => (int)v));
        }

        var actual = data.Examples.Select(e => e.Label).ToList();
        return new EvaluationResult(0, loss / data.Examples.Count, Metrics.Accuracy(predicted, actual), Metrics.MacroF1(predicted, actual), Metrics.Mcc(predicted, actual));
    }

    private double Multiplier(int step, int total)
    {
        var warmup = (int)Math.Ceiling(_options.WarmupRatio * total);
        if (step < warmup)
        {
            return (step + 1.0) / warmup;
        }

        var progress = (step - warmup) / (double)Math.Max(1, total - warmup);
        return _options.Schedule switch
        {
            LearningRateSchedule.Cosine => 0.5 * (1 + Math.Cos(Math.PI * progress)),
            LearningRateSchedule.Constant => 1.0,
            _ => Math.Max(0.0, 1.0 - progress),
        };
    }

    private (Tensor Ids, Tensor Mask, Tensor Labels) Batch(ClassificationDataset data, int microStep, int microStepsPerEpoch)
    {
        var order = EpochOrder(data, microStep / microStepsPerEpoch);
        var start = microStep % microStepsPerEpoch * _options.BatchSize;
        var slice = order.Skip(start).Take(_options.BatchSize).Select(i => data.Examples[i]).ToList();
        if (slice.Count == 0)
        {
            slice = order.Take(_options.BatchSize).Select(i => data.Examples[i]).ToList();
        }

        var batch = _tokenizer.EncodeBatch(slice.Select(e => e.Text).ToList(), _options.MaxLength);
        return (batch.InputIds, batch.AttentionMask, tensor(slice.Select(e => (long)e.Label).ToArray()));
    }

    /// <summary>The shuffled example order of <paramref name="epoch"/> (a function of seed and epoch), computed once per epoch.</summary>
    private int[] EpochOrder(ClassificationDataset data, int epoch)
    {
        if (_epochOrder is { } cached && cached.Data == data && cached.Epoch == epoch)
        {
            return cached.Order;
        }

        var order = Enumerable.Range(0, data.Examples.Count).ToArray();
        new Random(_options.Seed + epoch).Shuffle(order);
        _epochOrder = (data, epoch, order);
        return order;
    }

    private static void CheckGradients(int step, IReadOnlyList<Parameter> parameters, Dictionary<IntPtr, string> names)
    {
        if (FirstNonFinite(parameters, p => p.grad?.norm()) is { } first)
        {
            throw new NonFiniteTrainingException($"step {step + 1}: the gradient of '{names.GetValueOrDefault(first.Handle, "?")}' is not finite; training stopped, the last checkpoint is intact");
        }
    }

    /// <summary>The first parameter whose <paramref name="tensorOf"/> (null: nothing to check) has a non-finite element, found with one host synchronisation when all are finite.</summary>
    private static Parameter? FirstNonFinite(IReadOnlyList<Parameter> parameters, Func<Parameter, Tensor?> tensorOf)
    {
        using var scope = NewDisposeScope();
        var finite = stack(parameters.Select(p => tensorOf(p) is { } t ? isfinite(t).all() : tensor(true)).ToArray());
        if (finite.all().item<bool>())
        {
            return null;
        }

        return parameters[Array.IndexOf(finite.data<bool>().ToArray(), false)];
    }

    /// <summary>Appends <c>{"step", "ranks": {module: rank}}</c> to ranks.jsonl when a rank changed since <paramref name="last"/>.</summary>
    private Dictionary<string, int> AppendRanksIfChanged(int step, Dictionary<string, int>? last)
    {
        var ranks = _peft.GetEffectiveRanks();
        if (ranks.Count > 0 && ranks.Values.All(r => r == 0) && (last is null || last.Values.Any(r => r > 0)))
        {
            _log.WriteLine($"warning: every rank of adapter '{_peft.ActiveAdapter}' is pruned (step {step}): the adapter now adds nothing; training goes on for modules_to_save, and a compact export will be refused");
        }

        if (_options.OutputDirectory is not null && (last is null || ranks.Any(kv => last.GetValueOrDefault(kv.Key) != kv.Value)))
        {
            AppendRecord("ranks.jsonl", new JsonObject { ["step"] = step, ["ranks"] = new JsonObject(ranks.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) });
        }

        return ranks;
    }

    /// <summary>Appends <paramref name="record"/> as one line of the run file <paramref name="file"/> (metrics.jsonl, ranks.jsonl); nothing without an output directory.</summary>
    private void AppendRecord(string file, JsonObject record)
    {
        if (_options.OutputDirectory is not { } output)
        {
            return;
        }

        WriteRunFile(file, () =>
        {
            Directory.CreateDirectory(output);
            File.AppendAllText(Path.Combine(output, file), record.ToJsonString() + "\n");
        });
    }

    private sealed record RunState
    {
        public int Step { get; init; }

        public double BestMetric { get; init; } = double.NegativeInfinity;

        public int BestStep { get; init; }

        public int SinceBest { get; init; }

        public IReadOnlyList<double> Losses { get; init; } = [];

        public IReadOnlyList<EvaluationResult> Evaluations { get; init; } = [];
    }

    private string CheckpointDirectory => Path.Combine(_options.OutputDirectory ?? throw new InvalidOperationException("checkpoints need an output directory"), "checkpoint");

    private void SaveCheckpoint(RunState state, AdamW optimizer, TrainingController? controller)
    {
        if (_options.OutputDirectory is null)
        {
            return;
        }

        AtomicDirectory.Replace(CheckpointDirectory, staging =>
        {
            _peft.SavePretrained(staging, [_peft.ActiveAdapter], trainingState: true);
            optimizer.save_state_dict(Path.Combine(staging, "optimizer.bin"));
            var controllerState = controller?.GetState() ?? new ControllerState();
            SafetensorsWriter.Save(Path.Combine(staging, "controller.safetensors"), controllerState.Tensors);
            var json = new JsonObject
            {
                ["step"] = state.Step,
                ["best_metric"] = double.IsFinite(state.BestMetric) ? state.BestMetric : null,
                ["best_step"] = state.BestStep,
                ["since_best"] = state.SinceBest,
                ["losses"] = new JsonArray([.. state.Losses.Select(l => (JsonNode?)l)]),
                ["evaluations"] = JsonSerializer.SerializeToNode(state.Evaluations),
                ["controller_values"] = JsonSerializer.SerializeToNode(controllerState.Values),
            };
            AtomicFile.WriteAllText(Path.Combine(staging, "trainer_state.json"), json.ToJsonString());
        });
    }

    /// <summary>Runs a write of the run folder, turning I/O failures (a full disk) into <see cref="RunOutputException"/>.</summary>
    private void WriteRunFile(string what, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var previous = _savedStep > 0 && Directory.Exists(CheckpointDirectory) ? $"the previous checkpoint (step {_savedStep}) in {CheckpointDirectory} is intact" : "no earlier checkpoint exists";
            throw new RunOutputException($"could not write {what} in {_options.OutputDirectory}: {e.Message}; {previous}", e);
        }
    }

    /// <summary>Refuses to save parameters that overflowed (an exploding learning rate), so a checkpoint is never garbage.</summary>
    private static void EnsureFiniteParameters(int step, IReadOnlyList<Parameter> parameters, Dictionary<IntPtr, string> names)
    {
        if (FirstNonFinite(parameters, p => p) is { } first)
        {
            throw new NonFiniteTrainingException($"step {step}: parameter '{names.GetValueOrDefault(first.Handle, "?")}' is no longer finite (the learning rate is too high?); training stopped, the last checkpoint is intact");
        }
    }

    /// <summary>A fresh run starts its metrics.jsonl and ranks.jsonl anew and removes an earlier run's checkpoint, so a later resume can only continue this run.</summary>
    private void StartRunLogs()
    {
        if (_options.OutputDirectory is not { } output || !Directory.Exists(output))
        {
            return;
        }

        foreach (var file in new[] { "metrics.jsonl", "ranks.jsonl" })
        {
            WriteRunFile(file, () => File.Delete(Path.Combine(output, file)));
        }

        WriteRunFile("the earlier run's checkpoint", () => AtomicDirectory.Delete(CheckpointDirectory));
    }

    /// <summary>
    /// On resume, drops the records a killed run wrote after its checkpoint (and a torn last line), so the
    /// log reads as if the run was never interrupted. Returns the last record kept, or null.
    /// </summary>
    private JsonNode? TrimRunLog(string file, int step)
    {
        var path = Path.Combine(_options.OutputDirectory!, file);
        if (!File.Exists(path))
        {
            return null;
        }

        static JsonNode? Parse(string line)
        {
            try
            {
                return JsonNode.Parse(line);
            }
            catch (JsonException)
            {
                return null;
            }
        }

        static int? StepOf(JsonNode? record) =>
            record?["step"] is JsonValue value && value.TryGetValue<int>(out var s) ? s : null;

        var kept = File.ReadLines(path).Select(line => (Line: line, Record: Parse(line))).Where(r => StepOf(r.Record) <= step).ToList();
        var text = string.Concat(kept.Select(r => r.Line + "\n"));
        WriteRunFile(file, () => AtomicFile.WriteAllText(path, text));
        return kept.Count > 0 ? kept[^1].Record : null;
    }

    private RunState LoadCheckpoint(AdamW optimizer, TrainingController? controller)
    {
        var directory = CheckpointDirectory;
        AtomicDirectory.Recover(directory);
        AtomicDirectory.Recover(Path.Combine(_options.OutputDirectory!, "best"));
        var statePath = Path.Combine(directory, "trainer_state.json");
        if (!File.Exists(statePath))
        {
            throw new PeftException($"nothing to resume: {statePath} does not exist");
        }

        _peft.LoadAdapterWeights(directory, _peft.ActiveAdapter);
        optimizer.load_state_dict(Path.Combine(directory, "optimizer.bin"));
        var json = ConfigJson.Load(statePath);
        var controllerState = new ControllerState();
        foreach (var (name, tensor) in SafetensorsFile.ReadAll(Path.Combine(directory, "controller.safetensors")))
        {
            controllerState.Tensors[name] = tensor;
        }

        if (json.Node("controller_values") is JsonObject values)
        {
            foreach (var (key, value) in values)
            {
                controllerState.Values[key] = value!.GetValue<double>();
            }
        }

        controller?.LoadState(controllerState);
        return new RunState
        {
            Step = json.Int("step", 0),
            BestMetric = json.Node("best_metric") is JsonValue best ? best.GetValue<double>() : double.NegativeInfinity,
            BestStep = json.Int("best_step", 0),
            SinceBest = json.Int("since_best", 0),
            Losses = json.Node("losses")!.AsArray().Select(v => v!.GetValue<double>()).ToList(),
            Evaluations = json.Node("evaluations").Deserialize<List<EvaluationResult>>() ?? [],
        };
    }
}
