using System.Text.Json.Serialization;

namespace PeftSharp.Training;

/// <summary>The contract of a checkpoint's <c>trainer_state.json</c>: the run's counters and the controller's scalar state.</summary>
internal sealed record TrainerStateFile
{
    /// <summary>The checkpoint's file name.</summary>
    public const string FileName = "trainer_state.json";

    /// <summary>Optimizer steps done.</summary>
    [JsonPropertyName("step")]
    public int Step { get; init; }

    /// <summary>The best value of the run's metric so far; null before the first evaluation.</summary>
    [JsonPropertyName("best_metric")]
    public double? BestMetric { get; init; }

    /// <summary>The step of the best evaluation.</summary>
    [JsonPropertyName("best_step")]
    public int BestStep { get; init; }

    /// <summary>Evaluations since the best one (early stopping).</summary>
    [JsonPropertyName("since_best")]
    public int SinceBest { get; init; }

    /// <summary>Training loss of every step.</summary>
    [JsonPropertyName("losses")]
    public IReadOnlyList<double> Losses { get; init; } = [];

    /// <summary>Every evaluation.</summary>
    [JsonPropertyName("evaluations")]
    public IReadOnlyList<Evaluation> Evaluations { get; init; } = [];

    /// <summary>The controller's scalar state (its tensors are in <c>controller.safetensors</c>).</summary>
    [JsonPropertyName("controller_values")]
    public Dictionary<string, double> ControllerValues { get; init; } = [];
}

/// <summary>Source-generated JSON contracts of the trainer's files.</summary>
[JsonSerializable(typeof(TrainerStateFile))]
internal sealed partial class TrainingJsonContext : JsonSerializerContext;
