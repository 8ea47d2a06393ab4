namespace PeftSharp.Training;

/// <summary>The contract of a checkpoint's <c>trainer_state.json</c>: the run's counters and the controller's scalar state.</summary>
internal sealed record TrainerStateFile
{
    /// <summary>The checkpoint's file name.</summary>
    public const string FileName = "trainer_state.json";

    /// <summary>Optimizer steps done.</summary>
    public int Step { get; init; }

    /// <summary>The best value of the run's metric so far; null before the first evaluation.</summary>
    public double? BestMetric { get; init; }

    /// <summary>The step of the best evaluation.</summary>
    public int BestStep { get; init; }

    /// <summary>Evaluations since the best one (early stopping).</summary>
    public int SinceBest { get; init; }

    /// <summary>Training loss of every step.</summary>
    public IReadOnlyList<double> Losses { get; init; } = [];

    /// <summary>Every evaluation.</summary>
    public IReadOnlyList<Evaluation> Evaluations { get; init; } = [];

    /// <summary>The controller's scalar state (its tensors are in <c>controller.safetensors</c>).</summary>
    public Dictionary<string, double> ControllerValues { get; init; } = [];
}

/// <summary>
/// Source-generated JSON contracts of the trainer's files. Names match without regard to case so that
/// checkpoints written before the evaluations' fields were snake case (<c>Step</c>, <c>Loss</c>,
/// <c>Metrics</c>) still resume.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(TrainerStateFile))]
internal sealed partial class TrainingJsonContext : JsonSerializerContext;
