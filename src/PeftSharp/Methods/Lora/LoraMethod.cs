using PeftSharp.Adapters;
using PeftSharp.Conformance;
using PeftSharp.Methods.Lora.Verification;

namespace PeftSharp.Methods.Lora;

/// <summary>LoRA: builds <see cref="LoraPath"/>s from <see cref="LoraConfig"/>.</summary>
public sealed class LoraMethod : AdapterMethod<LoraConfig>
{
    private LoraMethod()
        : base("lora", "LORA", LoraJsonContext.Default)
    {
    }

    /// <summary>The method.</summary>
    public static LoraMethod Instance { get; } = new();

    /// <summary>
    /// The paper's GLUE setting for encoders (r 8, alpha 16, dropout 0.1 on query and value) and the
    /// QLoRA-style causal-LM setting (the same rank and alpha, dropout 0.05 on every projection).
    /// </summary>
    protected override LoraConfig CreatePreset(AdapterTask task, int totalSteps) => new()
    {
        R = 8,
        LoraAlpha = 16,
        LoraDropout = PresetDropout(task),
    };

    /// <inheritdoc />
    public override IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        yield return ("default", new LoraConfig());
        yield return ("rslora-gaussian", new LoraConfig { UseRslora = true, InitLoraWeights = LoraInit.Gaussian });
        yield return ("dora", new LoraConfig { UseDora = true });
        yield return ("patterns", new LoraConfig { RankPattern = new(StringComparer.Ordinal) { ["q"] = 4 }, AlphaPattern = new(StringComparer.Ordinal) { ["v"] = 32 } });
    }

    /// <summary>
    /// Quality: the preset at the benchmark's rank (the reference of the adaptive methods' claims, trained
    /// at every rank they compare with). Step time: the baseline every method's step is measured against,
    /// at the benchmark's rank with alpha 16, and DoRA at the same rank (its per-step weight norm).
    /// </summary>
    public override IEnumerable<BenchmarkVariant> BenchmarkVariants()
    {
        yield return Benchmark(BenchmarkKind.Quality, "lora", s => AtRank(CreateEncoderPreset(s.TotalSteps), s.Rank)) with { Quick = true, Baseline = true };

        yield return Benchmark(BenchmarkKind.StepTime, "lora", s => new LoraConfig { R = s.Rank, LoraAlpha = 16 }) with { Baseline = true };
        yield return Benchmark(BenchmarkKind.StepTime, "dora", s => new LoraConfig { R = s.Rank, LoraAlpha = 16, UseDora = true }) with { Tolerance = 1.05 };
    }

    /// <inheritdoc />
    public override IConformanceHandler CreateConformanceHandler() => new LoraConformance();

    /// <inheritdoc />
    protected override LowRankPath CreatePath(LoraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context) =>
        config.UseDora
            ? new DoraPath(target, config.RankFor(moduleName), config.AlphaFor(moduleName), config.LoraDropout, config.UseRslora, config.InitLoraWeights, context.Generator)
            : new LoraPath(target.InFeatures, target.OutFeatures, config.RankFor(moduleName), config.AlphaFor(moduleName), config.LoraDropout, config.UseRslora, config.InitLoraWeights, context.Generator);

    /// <inheritdoc />
    protected override IEnumerable<string> CheckAfterInjection(LoraConfig config, IReadOnlyList<string> adaptedModuleNames)
    {
        foreach (var (name, keys) in new[] { ("rank_pattern", config.RankPattern.Keys.ToList()), ("alpha_pattern", config.AlphaPattern.Keys.ToList()) })
        {
            foreach (var key in keys)
            {
                if (!adaptedModuleNames.Any(m => TargetSelector.FindPatternKey([key], m) is not null))
                {
                    yield return $"{name} key '{key}' matches no adapted module";
                }
            }
        }
    }

    private static LoraConfig AtRank(LoraConfig config, int r)
    {
        config.R = r;
        return config;
    }
}
