namespace PeftSharp.Training;

/// <summary>Where a run is, reported after every optimizer step.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="Total">Optimizer steps planned.</param>
/// <param name="Loss">This step's training loss.</param>
/// <param name="LearningRate">This step's adapter learning rate.</param>
/// <param name="StepsPerSecond">Throughput so far.</param>
/// <param name="Eta">Estimated time to the end.</param>
public sealed record TrainingProgress(int Step, int Total, double Loss, double LearningRate, double StepsPerSecond, TimeSpan Eta);
