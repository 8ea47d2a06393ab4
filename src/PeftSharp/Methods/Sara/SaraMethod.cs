using PeftSharp.Adapters;
using PeftSharp.Conformance;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara.Verification;

namespace PeftSharp.Methods.Sara;

/// <summary>SARA: builds a <see cref="LoraPath"/> or <see cref="SaraPath"/> of each module's own rank from <see cref="SaraConfig"/>.</summary>
public sealed class SaraMethod : SaraRankMethod<SaraConfig>
{
    private SaraMethod()
        : base("sara", "SARA", SaraJsonContext.Default)
    {
    }

    /// <summary>The method.</summary>
    public static SaraMethod Instance { get; } = new();

    /// <summary>
    /// Ranks from the 10 % spectral threshold m, clamped to [2, 16] (on the bundled encoder this averages
    /// close to LoRA's r 8), alpha 16.
    /// </summary>
    protected override SaraConfig CreatePreset(AdapterTask task, int totalSteps) => new()
    {
        Threshold = 0.1,
        KMin = 2,
        KMax = 16,
        LoraAlpha = 16,
        LoraDropout = PresetDropout(task),
    };

    /// <inheritdoc />
    public override IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        yield return ("lora-form", new SaraConfig());
        yield return ("svd-form", new SaraConfig { Form = SaraForm.Svd, OrthRegWeight = 0.1, RankRule = SaraRankRule.Exceeds, CountPreceding = true, KMax = 4 });
    }

    /// <summary>
    /// Quality: the preset (LoRA form), the SVD form, and the SVD form with the orthogonality term.
    /// Injection: the rank choice from each weight's singular values. Step time: the SVD form at the
    /// benchmark's rank with the orthogonality term (its controller work).
    /// </summary>
    public override IEnumerable<BenchmarkVariant> BenchmarkVariants()
    {
        yield return Benchmark(BenchmarkKind.Quality, "sara lora form (m=0.1)", s => CreateEncoderPreset(s.TotalSteps)) with { Quick = true };
        yield return Benchmark(BenchmarkKind.Quality, "sara svd form (m=0.1)", s => InForm(CreateEncoderPreset(s.TotalSteps), SaraForm.Svd, 0));
        yield return Benchmark(BenchmarkKind.Quality, "sara svd form + orthogonality 0.1", s => InForm(CreateEncoderPreset(s.TotalSteps), SaraForm.Svd, 0.1));
        yield return Benchmark(BenchmarkKind.Injection, "SARA rank choice at injection (singular values)", _ => new SaraConfig { Threshold = 0.1 });
        yield return Benchmark(BenchmarkKind.StepTime, "sara", s => new SaraConfig { Form = SaraForm.Svd, OrthRegWeight = 0.1, KMin = s.Rank, KMax = s.Rank, LoraAlpha = 16 }) with { Tolerance = 1.05 };
    }

    /// <inheritdoc />
    public override IConformanceHandler CreateConformanceHandler() => new SaraConformance();

    /// <inheritdoc />
    protected override LowRankPath CreatePath(SaraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var k = RankFor(config, moduleName, target);
        return config.Form == SaraForm.Svd
            ? new SaraPath(target.InFeatures, target.OutFeatures, k, config.LoraAlpha, config.LoraDropout, context.Generator)
            : new LoraPath(target.InFeatures, target.OutFeatures, k, config.LoraAlpha, config.LoraDropout, generator: context.Generator);
    }

    /// <inheritdoc />
    protected override TrainingController? CreateController(SaraConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        config.Form == SaraForm.Svd && config.OrthRegWeight > 0
            ? new SaraController(PathsOf<SaraPath>(adapterName, modules), config.OrthRegWeight)
            : null;

    private static SaraConfig InForm(SaraConfig config, SaraForm form, double orthRegWeight)
    {
        config.Form = form;
        config.OrthRegWeight = orthRegWeight;
        return config;
    }
}
