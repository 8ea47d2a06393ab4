using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// The step loop, whatever the task: AdamW over the given parameter groups, the warm-up schedule,
/// gradient accumulation, the method's <see cref="TrainingController"/> hooks in their documented
/// order, the NaN guard, clipping, progress, evaluation with best-weights keeping and early stopping,
/// and resumable checkpoints in the <see cref="RunFolder"/>. Every tensor of a step lives in one
/// dispose scope. A run is a function of the seed: dropout is reseeded from (seed, step) and the task
/// picks the batch from (epoch, position), so a resumed run ends exactly like an uninterrupted one.
/// </summary>
public sealed class TrainingLoop
{
    /// <summary>Steps between returns of the native heap's free pages to the system (<see cref="NativeHeap.ReleaseFreeMemory"/>).</summary>
    private const int HeapTrimInterval = 1024;

    private readonly TrainingTask _task;
    private readonly TrainerOptions _options;
    private readonly IReadOnlyList<ParameterGroup> _groups;
    private readonly PeftModel? _peft;
    private readonly RunFolder? _folder;
    private readonly TextWriter _log;
    private readonly IProgress<TrainingProgress>? _progress;

    /// <summary>
    /// Creates the loop that trains <paramref name="task"/> with <paramref name="groups"/>. With
    /// <paramref name="peft"/> (an adapter run), its active adapter's controller is called, effective
    /// ranks are logged, and checkpoints hold the adapter; <paramref name="log"/> gets progress lines,
    /// <paramref name="progress"/> a report after every step.
    /// </summary>
    public TrainingLoop(TrainingTask task, TrainerOptions options, IReadOnlyList<ParameterGroup> groups, PeftModel? peft = null, TextWriter? log = null, IProgress<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(groups);
        _task = task;
        _options = options;
        _groups = groups;
        _peft = peft;
        _folder = options.OutputDirectory is { } output ? new RunFolder(output, task.Model, peft) : null;
        _log = log ?? TextWriter.Null;
        _progress = progress;
    }

    /// <summary>Optimizer steps in one pass over the training data.</summary>
    public int StepsPerEpoch => (int)Math.Ceiling(_task.BatchesPerEpoch / (double)_options.GradientAccumulation);

    /// <summary>Optimizer steps of the whole run.</summary>
    public int TotalSteps => _options.MaxSteps ?? _options.Epochs * StepsPerEpoch;

    /// <summary>
    /// Trains; with <paramref name="resume"/>, continues from the checkpoint in the output directory.
    /// Without it, the output directory's logs and checkpoint of an earlier run are replaced. When
    /// <paramref name="cancellationToken"/> is cancelled the loop stops at the next step boundary,
    /// saves the checkpoint of the last step (unless that step already saved one) and throws
    /// <see cref="TrainingCanceledException"/>.
    /// </summary>
    public TrainingOutcome Run(bool resume = false, CancellationToken cancellationToken = default)
    {
        _options.Validate();
        var controller = _peft?.GetController();
        var evaluator = _task.MetricNames.Count > 0 ? new Evaluator(_task, controller) : null;
        if (evaluator is not null)
        {
            _options.CheckMetric(_task.MetricNames);
        }

        // What is trained, checked and clipped; the controller's own parameters are stepped by it but zeroed here.
        var parameters = _peft?.GetTrainableParameters() ?? _groups.SelectMany(g => g.Parameters).ToList();
        var owned = controller?.OwnedParameters ?? [];
        var names = _task.Model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.parameter.Handle, p => p.name);
        using var optimizer = optim.AdamW([.. _groups.Select(g => new AdamW.ParamGroup(g.Parameters, lr: g.LearningRate, weight_decay: g.WeightDecay))]);
        var total = TotalSteps;
        var schedule = WarmupSchedule.For(_options, total);

        var state = new RunState();
        JsonNode? lastRankRecord = null;
        if (resume)
        {
            var folder = _folder ?? throw new PeftConfigurationException("resuming needs an output directory");
            state = folder.Resume(optimizer, controller, out lastRankRecord);
            _log.WriteLine($"resumed at step {state.Step}");
        }
        else
        {
            _folder?.StartFresh();
        }

        var losses = new List<double>(state.Losses);
        var evaluations = new List<Evaluation>(state.Evaluations);
        var clock = Stopwatch.StartNew();
        var startStep = state.Step;
        // A resumed run compares the next ranks with the last logged ones, as the uninterrupted run would.
        var lastRanks = !resume ? LogRanksIfChanged(0, null)
            : lastRankRecord?["ranks"] is JsonObject logged ? logged.ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>())
            : _peft?.GetEffectiveRanks() ?? [];
        if (lastRanks.Values.Distinct().Count() > 1)
        {
            _log.WriteLine($"ranks per module (total {lastRanks.Values.Sum()}): {string.Join(", ", lastRanks.Select(kv => $"{kv.Key} {kv.Value}"))}");
        }

        for (var step = state.Step; step < total; step++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                throw Cancel(state, parameters, names, optimizer, controller, cancellationToken);
            }

            if (step > startStep && step % HeapTrimInterval == 0)
            {
                NativeHeap.ReleaseFreeMemory();
            }

            var factor = schedule.Factor(step);
            var loss = Step(step, factor, optimizer, controller, parameters, owned, names);
            losses.Add(loss);
            var done = step + 1;
            var rate = _groups[0].LearningRate * factor;
            _folder?.AppendRecord("metrics.jsonl", new JsonObject { ["step"] = done, ["loss"] = loss, ["lr"] = rate });
            lastRanks = LogRanksIfChanged(done, lastRanks);
            ReportProgress(done, total, startStep, loss, rate, losses, clock);

            var evalNow = evaluator is not null && (_options.EvalEvery > 0 ? done % _options.EvalEvery == 0 || done == total : done % StepsPerEpoch == 0 || done == total);
            var saveNow = evalNow || (_options.SaveEvery > 0 && done % _options.SaveEvery == 0);
            if (saveNow)
            {
                // Once per step that writes parameters (best weights, checkpoint): none may have overflowed.
                FiniteChecks.EnsureFiniteParameters(done, parameters, names);
            }

            if (evalNow)
            {
                var result = evaluator!.Run(done);
                NativeHeap.ReleaseFreeMemory();
                evaluations.Add(result);
                var record = new JsonObject { ["step"] = done, ["eval_loss"] = result.Loss };
                foreach (var (name, value) in result.Metrics)
                {
                    record[name] = value;
                }

                _folder?.AppendRecord("metrics.jsonl", record);
                _log.WriteLine($"eval at step {done}: {_task.Describe(result)}");
                // The best score is kept negated for metrics where lower is better.
                var metric = _task.IsHigherBetter(_options.Metric) ? result.Metrics[_options.Metric] : -result.Metrics[_options.Metric];
                if (metric > state.BestMetric)
                {
                    state = state with { BestMetric = metric, BestStep = done, SinceBest = 0 };
                    _folder?.SaveBest();
                }
                else
                {
                    state = state with { SinceBest = state.SinceBest + 1 };
                }
            }

            state = state with { Step = done, Losses = losses, Evaluations = evaluations };
            if (saveNow)
            {
                SaveCheckpoint(state, optimizer, controller);
            }

            if (evalNow && _options.EarlyStoppingPatience is { } patience && state.SinceBest >= patience)
            {
                _log.WriteLine($"early stopping at step {done}: {patience} evaluations without improvement");
                break;
            }

            if (_options.StopAfterSteps is { } stop && done >= stop)
            {
                break;
            }
        }

        controller?.OnTrainingEnd();
        var best = evaluations.Count == 0 ? null : evaluations.First(e => e.Step == state.BestStep);
        var ran = state.Step - startStep;
        return new TrainingOutcome(state.Step, losses, evaluations, best, ran == 0 ? 0 : clock.Elapsed.TotalSeconds / ran);
    }

    /// <summary>One optimizer step: forward and backward of every micro-batch, the controller's hooks, the NaN guard, clipping and the update. Returns the step's loss.</summary>
    private double Step(int step, double factor, AdamW optimizer, TrainingController? controller, IReadOnlyList<Parameter> parameters, IReadOnlyList<Parameter> owned, IReadOnlyDictionary<IntPtr, string> names)
    {
        var group = 0;
        foreach (var optimizerGroup in optimizer.ParamGroups)
        {
            optimizerGroup.LearningRate = _groups[group++].LearningRate * factor;
        }

        _task.Model.train();
        manual_seed(_options.Seed * 1_000_003L + step);
        using var scope = NewDisposeScope();
        controller?.OnStepBegin(step);
        var accumulation = _options.GradientAccumulation;
        var batchesPerEpoch = StepsPerEpoch * accumulation;
        double stepLoss = 0;
        for (var micro = 0; micro < accumulation; micro++)
        {
            // Each micro-batch frees its activations before the next one.
            using var microScope = NewDisposeScope();
            var index = step * accumulation + micro;
            var loss = _task.Loss(index / batchesPerEpoch, index % batchesPerEpoch) / accumulation;
            if (micro == accumulation - 1 && controller?.ExtraLoss(step) is { } extra)
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
        FiniteChecks.CheckGradients(step, parameters, names);
        if (_options.MaxGradNorm > 0)
        {
            nn.utils.clip_grad_norm_(parameters, _options.MaxGradNorm);
        }

        optimizer.step();
        controller?.OnOptimizerStep(step, _options.LearningRate, factor);
        controller?.OnAfterOptimizerStep(step);
        _peft?.NoteControllerStep();
        optimizer.zero_grad();
        foreach (var parameter in owned)
        {
            parameter.grad?.zero_();
        }

        return stepLoss;
    }

    private void SaveCheckpoint(RunState state, AdamW optimizer, TrainingController? controller)
    {
        if (_folder is null)
        {
            return;
        }

        _folder.SaveCheckpoint(state, optimizer, controller);
        _log.WriteLine($"checkpoint saved at step {state.Step}");
    }

    /// <summary>Saves the checkpoint of the last completed step (unless it has one) and builds the exception that ends a cancelled run.</summary>
    private TrainingCanceledException Cancel(RunState state, IReadOnlyList<Parameter> parameters, IReadOnlyDictionary<IntPtr, string> names, AdamW optimizer, TrainingController? controller, CancellationToken cancellationToken)
    {
        if (_folder is null || state.Step == 0)
        {
            return new TrainingCanceledException(state.Step, null, cancellationToken);
        }

        if (_folder.SavedStep != state.Step)
        {
            FiniteChecks.EnsureFiniteParameters(state.Step, parameters, names);
            SaveCheckpoint(state, optimizer, controller);
        }

        return new TrainingCanceledException(state.Step, _folder.CheckpointDirectory, cancellationToken);
    }

    private void ReportProgress(int done, int total, int startStep, double loss, double rate, List<double> losses, Stopwatch clock)
    {
        var perStep = clock.Elapsed.TotalSeconds / (done - startStep);
        _progress?.Report(new TrainingProgress(done, total, loss, rate, 1 / perStep, TimeSpan.FromSeconds(perStep * (total - done))));
        if (_options.LogEvery > 0 && (done % _options.LogEvery == 0 || done == total))
        {
            _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {done}/{total}  loss {losses.TakeLast(_options.LogEvery).Average():F4}  lr {rate:0.###e+0}  {1 / perStep:F2} steps/s  ETA {TimeSpan.FromSeconds(perStep * (total - done)):hh\\:mm\\:ss}"));
        }
    }

    /// <summary>Appends <c>{"step", "ranks": {module: rank}}</c> to ranks.jsonl when a rank changed since <paramref name="last"/> (adapter runs only).</summary>
    private Dictionary<string, int> LogRanksIfChanged(int step, Dictionary<string, int>? last)
    {
        if (_peft is null)
        {
            return [];
        }

        var ranks = _peft.GetEffectiveRanks();
        if (ranks.Count > 0 && ranks.Values.All(r => r == 0) && (last is null || last.Values.Any(r => r > 0)))
        {
            _log.WriteLine($"warning: every rank of adapter '{_peft.ActiveAdapter}' is pruned (step {step}): the adapter now adds nothing; training goes on for modules_to_save, and a compact export will be refused");
        }

        if (last is null || ranks.Any(kv => last.GetValueOrDefault(kv.Key) != kv.Value))
        {
            _folder?.AppendRecord("ranks.jsonl", new JsonObject { ["step"] = step, ["ranks"] = new JsonObject(ranks.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) });
        }

        return ranks;
    }
}
