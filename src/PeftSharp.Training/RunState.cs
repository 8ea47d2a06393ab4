namespace PeftSharp.Training;

/// <summary>The counters a checkpoint carries besides weights and optimizer state.</summary>
internal sealed record RunState
{
    /// <summary>Optimizer steps done.</summary>
    public int Step { get; init; }

    /// <summary>The best value of the run's metric so far (negated when lower is better).</summary>
    public double BestMetric { get; init; } = double.NegativeInfinity;

    /// <summary>The step of the best evaluation.</summary>
    public int BestStep { get; init; }

    /// <summary>Evaluations since the best one (early stopping).</summary>
    public int SinceBest { get; init; }

    /// <summary>Training loss of every step.</summary>
    public IReadOnlyList<double> Losses { get; init; } = [];

    /// <summary>Every evaluation.</summary>
    public IReadOnlyList<Evaluation> Evaluations { get; init; } = [];
}
