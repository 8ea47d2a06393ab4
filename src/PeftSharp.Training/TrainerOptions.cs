namespace PeftSharp.Training;

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

    /// <summary>Warm-up steps, overriding <see cref="WarmupRatio"/> (null: <c>ceil(WarmupRatio × total steps)</c>).</summary>
    public int? WarmupSteps { get; init; }

    /// <summary>Schedule after warm-up.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Linear;

    /// <summary>Global gradient-norm clipping (0: off).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Evaluate every this many optimizer steps (0: at the end of every epoch).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Metric for best-checkpoint keeping and early stopping, one the task reports (the task says whether higher or lower is better); sequence classification: accuracy, macro_f1 or mcc; causal LM: perplexity.</summary>
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
    /// <exception cref="PeftConfigurationException">A setting is out of range; the message names it and what it must be, <see cref="PeftConfigurationException.Setting"/> the property.</exception>
    public void Validate()
    {
        static void Require(bool condition, string name, string expected, object? value)
        {
            if (!condition)
            {
                var problem = $"must be {expected}, got {Convert.ToString(value, CultureInfo.InvariantCulture) ?? "none"}";
                throw new PeftConfigurationException($"trainer option {name} {problem}", name.Split('[')[0], problem);
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
        Require(WarmupSteps is null or >= 0, nameof(WarmupSteps), "≥ 0", WarmupSteps);
        Require(Rate(MaxGradNorm), nameof(MaxGradNorm), "a finite number ≥ 0 (0: no clipping)", MaxGradNorm);
        Require(EvalEvery >= 0, nameof(EvalEvery), "≥ 0", EvalEvery);
        Require(SaveEvery >= 0, nameof(SaveEvery), "≥ 0", SaveEvery);
        Require(MaxLength >= 2, nameof(MaxLength), "at least 2", MaxLength);
        Require(!string.IsNullOrWhiteSpace(Metric), nameof(Metric), "a metric name", Metric);
        Require(EarlyStoppingPatience is null or >= 1, nameof(EarlyStoppingPatience), "at least 1", EarlyStoppingPatience);
        Require(StopAfterSteps is null or >= 1, nameof(StopAfterSteps), "at least 1", StopAfterSteps);
    }

    /// <summary>Fails unless <see cref="Metric"/> is one of <paramref name="metrics"/> (the names a task reports).</summary>
    /// <exception cref="PeftConfigurationException"><see cref="Metric"/> is not one of them.</exception>
    public void CheckMetric(IReadOnlyCollection<string> metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        if (!metrics.Contains(Metric))
        {
            var problem = $"must be {string.Join(", ", metrics)}, got {Metric}";
            throw new PeftConfigurationException($"trainer option {nameof(Metric)} {problem}", nameof(Metric), problem);
        }
    }
}
