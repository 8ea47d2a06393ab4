using PeftSharp.Adapters;

namespace PeftSharp.Benchmarks;

/// <summary>One training run of the quality protocol: one configuration of one method at one seed on one task.</summary>
/// <param name="Task">The task's name (<see cref="IQualityTask.Name"/>).</param>
/// <param name="Configuration">The configuration's name (a method's <see cref="BenchmarkVariant.Name"/>, or a derived name such as "lora r=4").</param>
/// <param name="Method">The method's short name.</param>
/// <param name="Seed">The seed of the run (data order, initialisation, dropout).</param>
/// <param name="Score">The task's primary test score in points (0–100, higher is better).</param>
/// <param name="Metrics">Every test metric the task computes, by name.</param>
/// <param name="AdapterParameters">Trainable parameters inside the adapter paths while training.</param>
/// <param name="PublishedParameters">Parameters of the published (pruned, merged-away or exported) adapter.</param>
/// <param name="TotalRank">The sum of the published adapter's effective ranks.</param>
/// <param name="Seconds">Wall time of the run.</param>
public sealed record QualityRun(
    string Task,
    string Configuration,
    string Method,
    int Seed,
    double Score,
    IReadOnlyDictionary<string, double> Metrics,
    long AdapterParameters,
    long PublishedParameters,
    int TotalRank,
    double Seconds)
{
    /// <summary>The score of the trained adapter exported at a fraction of its parameters (the budget dial), by fraction.</summary>
    public IReadOnlyDictionary<double, double> ScoresAtBudget { get; init; } = new Dictionary<double, double>();

    /// <summary>The score of the trained adapter evaluated at each rank (DyLoRA's any-rank table), by rank.</summary>
    public IReadOnlyDictionary<int, double> ScoresAtRank { get; init; } = new Dictionary<int, double>();

    /// <summary>
    /// Parameters of the trained adapter's full plain-LoRA export (what <see cref="ScoresAtBudget"/>'s fractions
    /// are fractions of); 0 when the task did not record it (the claims then use the total rank at LoRA's cost per rank).
    /// </summary>
    public long ExportParameters { get; init; }
}

/// <summary>What a quality task is asked to do besides training and scoring the adapter.</summary>
/// <param name="BudgetFractions">Also score the trained adapter exported at these fractions of its parameters (empty: none).</param>
/// <param name="Ranks">Also score the trained adapter at these ranks (only for methods that serve several ranks; empty: none).</param>
public sealed record QualityExtras(IReadOnlyList<double> BudgetFractions, IReadOnlyList<int> Ranks)
{
    /// <summary>Nothing beyond the score.</summary>
    public static QualityExtras None { get; } = new([], []);
}

/// <summary>
/// A task of the quality protocol: a bundled base model and data set on which a configuration is
/// trained at one seed and scored on the test split. Implementations own their base, data, step
/// budget and learning rates; the protocol owns seeds, statistics and claims.
/// </summary>
public interface IQualityTask
{
    /// <summary>The task's name in records and plots (e.g. "minilm/spam", "decoder/g2p").</summary>
    string Name { get; }

    /// <summary>The name of <see cref="QualityRun.Score"/> (e.g. "accuracy", "word accuracy").</summary>
    string ScoreName { get; }

    /// <summary>The settings the methods' variants are built from on this task (targets, modules to save, steps).</summary>
    BenchmarkSettings Settings(int rank);

    /// <summary>Trains <paramref name="config"/> at <paramref name="seed"/> and scores it on the test split.</summary>
    /// <param name="configuration">The configuration's name, for <see cref="QualityRun.Configuration"/>.</param>
    /// <param name="method">The method's short name.</param>
    /// <param name="config">The adapter configuration to train.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="output">A folder the run may write to.</param>
    /// <param name="extras">What else to score.</param>
    QualityRun Run(string configuration, string method, AdapterConfig config, int seed, string output, QualityExtras extras);
}
