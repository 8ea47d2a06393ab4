namespace PeftSharp.Adapters;

/// <summary>The benchmark a <see cref="BenchmarkVariant"/> belongs to.</summary>
public enum BenchmarkKind
{
    /// <summary>Quality on the bundled encoder-classification task at one step budget (<see cref="BenchmarkSettings.TotalSteps"/>).</summary>
    Quality,

    /// <summary>Training-step time against the baseline's step at the same rank (<see cref="BenchmarkVariant.Tolerance"/>: the ratio allowed).</summary>
    StepTime,

    /// <summary>The cost of building the adapter (injection), such as an SVD per adapted weight.</summary>
    Injection,

    /// <summary>A student whose final per-module ranks are compared with a teacher's (<see cref="BenchmarkSettings.Rank"/>: the teacher's mean rank).</summary>
    RankRecovery,

    /// <summary>Another setting of a <see cref="RankRecovery"/> student, to find out why it does or does not recover the ranks (same settings as <see cref="RankRecovery"/>).</summary>
    RankRecoveryAblation,
}

/// <summary>What a benchmark gives a <see cref="BenchmarkVariant"/> to build its settings from.</summary>
/// <param name="Targets">The modules to adapt.</param>
/// <param name="ModulesToSave">The modules trained in full beside the adapter.</param>
/// <param name="TotalSteps">Optimizer steps of the run (0 when the benchmark does not train to an end).</param>
/// <param name="Rank">The rank the benchmark compares at (the baseline's rank, or the target rank).</param>
public sealed record BenchmarkSettings(TargetModules Targets, IReadOnlyList<string> ModulesToSave, int TotalSteps = 0, int Rank = 8);

/// <summary>
/// Named settings of a method that a benchmark runs (<see cref="AdapterMethod.BenchmarkVariants"/>):
/// presets, ablations and the settings of timing runs, kept with the method so that benchmarks name none.
/// </summary>
/// <param name="Kind">The benchmark.</param>
/// <param name="Name">The name of the benchmark's row or record (stable: published figures refer to it).</param>
/// <param name="Create">Builds the settings.</param>
public sealed record BenchmarkVariant(BenchmarkKind Kind, string Name, Func<BenchmarkSettings, AdapterConfig> Create)
{
    /// <summary>Whether the variant is in the quick subset of its benchmark.</summary>
    public bool Quick { get; init; }

    /// <summary>Whether the variant is the reference the benchmark's other variants are measured against.</summary>
    public bool Baseline { get; init; }

    /// <summary>The largest ratio to the baseline the benchmark accepts (<see cref="BenchmarkKind.StepTime"/>), or null.</summary>
    public double? Tolerance { get; init; }
}
