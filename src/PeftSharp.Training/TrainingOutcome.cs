namespace PeftSharp.Training;

/// <summary>What a <see cref="TrainingLoop"/> run did.</summary>
/// <param name="Steps">Optimizer steps done.</param>
/// <param name="Losses">Training loss of every step.</param>
/// <param name="Evaluations">Every evaluation.</param>
/// <param name="Best">The best evaluation by <see cref="TrainerOptions.Metric"/> (null without evaluations).</param>
/// <param name="SecondsPerStep">Mean wall time per optimizer step of this run (0 when it did none).</param>
public sealed record TrainingOutcome(int Steps, IReadOnlyList<double> Losses, IReadOnlyList<Evaluation> Evaluations, Evaluation? Best, double SecondsPerStep);
