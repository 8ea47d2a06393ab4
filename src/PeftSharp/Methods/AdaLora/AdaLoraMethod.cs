using PeftSharp.Adapters;
using PeftSharp.Conformance;
using PeftSharp.Methods.AdaLora.Verification;

namespace PeftSharp.Methods.AdaLora;

/// <summary>AdaLoRA: builds <see cref="AdaLoraPath"/>s and the <see cref="AdaLoraController"/> (rank allocation, orthogonality) from <see cref="AdaLoraConfig"/>.</summary>
public sealed class AdaLoraMethod : AdapterMethod<AdaLoraConfig>
{
    private AdaLoraMethod()
        : base("adalora", "ADALORA", AdaLoraJsonContext.Default)
    {
    }

    /// <summary>The method.</summary>
    public static AdaLoraMethod Instance { get; } = new();

    /// <summary>
    /// The paper's GLUE setting scaled to <paramref name="totalSteps"/>: init_r 12 → target_r 8 (final
    /// budget equal to LoRA at r 8), orthogonality weight 0.1; full budget for the first 10 % of steps
    /// (tinit), the cubic cut over the next 60 %, the final ranks fixed for the last 30 % (tfinal),
    /// re-allocation every 1 % of the run (at most every 10 steps). Alpha 32 for encoders; 24 for causal
    /// LM (scaling 2 at init_r, as LoRA's 16/8).
    /// </summary>
    protected override AdaLoraConfig CreatePreset(AdapterTask task, int totalSteps) => new()
    {
        InitR = 12,
        TargetR = 8,
        LoraAlpha = task == AdapterTask.CausalLanguageModeling ? 24 : 32,
        LoraDropout = PresetDropout(task),
        OrthRegWeight = 0.1,
        TInit = totalSteps / 10,
        TFinal = totalSteps * 3 / 10,
        DeltaT = Math.Clamp(totalSteps / 100, 1, 10),
        TotalStep = Math.Max(totalSteps, 1),
    };

    /// <inheritdoc />
    public override double? RecommendedLearningRate(AdapterTask task) => task == AdapterTask.CausalLanguageModeling ? 5e-4 : null;

    /// <inheritdoc />
    public override IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        yield return ("default", new AdaLoraConfig { TotalStep = 100 });
        yield return ("masks", new AdaLoraConfig { InitR = 2, TotalStep = 100, RankPattern = new(StringComparer.Ordinal) { ["q.lora_E"] = [true, false] } });
    }

    /// <summary>
    /// Quality: the preset (12 → 8, final budget 64) and the budgets 16 (4 → 2) and 8 (2 → 1). Step time:
    /// PEFT's schedule defaults (tinit 0, tfinal 0, deltaT 1), importance update and masking on every
    /// step, the allocator's most expensive setting. Rank recovery: 8 → the teacher's mean rank, pruning
    /// from 10 % to 70 % of the run; its ablation prunes from 50 % to 80 %.
    /// </summary>
    public override IEnumerable<BenchmarkVariant> BenchmarkVariants()
    {
        yield return Benchmark(BenchmarkKind.Quality, "adalora 12→8 (budget 64)", s => CreateEncoderPreset(s.TotalSteps)) with { Quick = true };
        foreach (var (initR, targetR) in new[] { (4, 2), (2, 1) })
        {
            yield return Benchmark(BenchmarkKind.Quality, $"adalora {initR}→{targetR} (budget {8 * targetR})", s =>
            {
                var config = CreateEncoderPreset(s.TotalSteps);
                config.InitR = initR;
                config.TargetR = targetR;
                return config;
            });
        }

        yield return Benchmark(BenchmarkKind.StepTime, "adalora", s => new AdaLoraConfig { InitR = s.Rank, TargetR = s.Rank / 2, LoraAlpha = 16, TInit = 0, TFinal = 0, DeltaT = 1, TotalStep = 100_000 }) with { Tolerance = 1.10 };
        yield return Benchmark(BenchmarkKind.RankRecovery, "adalora", s => RankRecovery(s, tInit: s.TotalSteps / 10, tFinal: s.TotalSteps * 3 / 10));

        // Budget schedule: prune later, once the triplets have learned (warm-up half the run, final 20 %).
        yield return Benchmark(BenchmarkKind.RankRecoveryAblation, "adalora, late pruning (tinit 50 %, tfinal 20 %)", s => RankRecovery(s, tInit: s.TotalSteps / 2, tFinal: s.TotalSteps / 5));
    }

    private static AdaLoraConfig RankRecovery(BenchmarkSettings s, int tInit, int tFinal) => new()
    {
        InitR = 8,
        TargetR = s.Rank,
        LoraAlpha = 16,
        OrthRegWeight = 0.1,
        TInit = tInit,
        TFinal = tFinal,
        DeltaT = 10,
        TotalStep = s.TotalSteps,
    };

    /// <inheritdoc />
    public override IConformanceHandler CreateConformanceHandler() => new AdaLoraConformance();

    /// <inheritdoc />
    protected override LowRankPath CreatePath(AdaLoraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var slots = config.SlotsFor(moduleName, context.AdapterName);
        return new AdaLoraPath(target.InFeatures, target.OutFeatures, slots.Length, config.InitR, config.LoraAlpha, config.LoraDropout, context.Generator, slots: slots);
    }

    /// <inheritdoc />
    protected override TrainingController? CreateController(AdaLoraConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        config.InferenceMode ? null : new AdaLoraController(PathsOf<AdaLoraPath>(adapterName, modules), config);

    /// <summary>A copy with every module's keep-mask in <see cref="AdaLoraConfig.RankPattern"/> (keys <c>&lt;module&gt;.lora_E</c>), as PEFT saves it.</summary>
    protected override AdapterConfig ConfigForSave(AdaLoraConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules)
    {
        var copy = CopyThroughJson(config);
        copy.RankPattern = modules
            .Where(m => m.Layer.GetPath(adapterName) is AdaLoraPath)
            .ToDictionary(m => $"{m.Name}.lora_E", m => ((AdaLoraPath)m.Layer.GetPath(adapterName)).KeepMask(), StringComparer.Ordinal);
        return copy;
    }
}
