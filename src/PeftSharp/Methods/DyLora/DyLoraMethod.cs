using PeftSharp.Adapters;
using PeftSharp.Conformance;
using PeftSharp.Methods.DyLora.Verification;

namespace PeftSharp.Methods.DyLora;

/// <summary>DyLoRA: builds <see cref="DyLoraPath"/>s and the rank-sampling <see cref="DyLoraController"/> from <see cref="DyLoraConfig"/>.</summary>
public sealed class DyLoraMethod : AdapterMethod<DyLoraConfig>
{
    private DyLoraMethod()
        : base("dylora", "DYLORA", DyLoraJsonContext.Default)
    {
    }

    /// <summary>The method.</summary>
    public static DyLoraMethod Instance { get; } = new();

    /// <summary>The paper's GLUE setting, r_max 8 and alpha 16, for both tasks (dropout per <see cref="AdapterMethod{TConfig}.PresetDropout"/>).</summary>
    protected override DyLoraConfig CreatePreset(AdapterTask task, int totalSteps) => new()
    {
        R = 8,
        LoraAlpha = 16,
        LoraDropout = PresetDropout(task),
    };

    /// <inheritdoc />
    public override IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        yield return ("default", new DyLoraConfig());
        yield return ("strict-eval-rank", new DyLoraConfig { StrictFreeze = true, FrozenMode = false, EvalRank = 4, RankSeed = 3 });
    }

    /// <summary>Quality: the preset. Step time: r_max at the benchmark's rank, alpha 16.</summary>
    public override IEnumerable<BenchmarkVariant> BenchmarkVariants()
    {
        yield return Benchmark(BenchmarkKind.Quality, "dylora r_max=8", s => CreateEncoderPreset(s.TotalSteps)) with { Quick = true };
        yield return Benchmark(BenchmarkKind.StepTime, "dylora", s => new DyLoraConfig { R = s.Rank, LoraAlpha = 16 }) with { Tolerance = 1.03 };
    }

    /// <inheritdoc />
    public override IConformanceHandler CreateConformanceHandler() => new DyLoraConformance();

    /// <inheritdoc />
    protected override LowRankPath CreatePath(DyLoraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var path = new DyLoraPath(target.InFeatures, target.OutFeatures, config.R, config.LoraAlpha, config.LoraDropout, context.Generator);
        path.SetRank(config.EvalRank ?? config.R);
        return path;
    }

    /// <inheritdoc />
    protected override TrainingController? CreateController(DyLoraConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        new DyLoraController(PathsOf<DyLoraPath>(adapterName, modules), config);
}
