namespace PeftSharp.Training;

/// <summary>One evaluation of a task, whatever the task.</summary>
/// <param name="Step">Optimizer steps done when it ran.</param>
/// <param name="Loss">Mean loss on the evaluation data.</param>
/// <param name="Metrics">The task's metrics by name (higher is better), in the order the task reports them.</param>
public sealed record Evaluation(int Step, double Loss, IReadOnlyDictionary<string, double> Metrics);
