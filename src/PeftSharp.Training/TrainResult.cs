namespace PeftSharp.Training;

/// <summary>What a run did.</summary>
/// <param name="Steps">Optimizer steps done.</param>
/// <param name="Losses">Training loss of every step.</param>
/// <param name="Evaluations">Every evaluation.</param>
/// <param name="Best">The best evaluation (null without an evaluation set).</param>
/// <param name="SecondsPerStep">Mean wall time per optimizer step.</param>
public sealed record TrainResult(int Steps, IReadOnlyList<double> Losses, IReadOnlyList<EvaluationResult> Evaluations, EvaluationResult? Best, double SecondsPerStep);
