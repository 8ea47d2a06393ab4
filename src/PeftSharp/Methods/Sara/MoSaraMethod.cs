using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara;

/// <summary>Mo-SARA: builds <see cref="MoSaraPath"/>s (frozen bases, E singular-value sets, a router) from <see cref="MoSaraConfig"/>.</summary>
public sealed class MoSaraMethod : SaraRankMethod<MoSaraConfig>
{
    private MoSaraMethod()
        : base("mosara", "MOSARA", MoSaraJsonContext.Default)
    {
    }

    /// <summary>The method.</summary>
    public static MoSaraMethod Instance { get; } = new();

    /// <summary>
    /// 4 sets of singular values over SVD bases of ranks from the 10 % spectral threshold (k in [2, 16]);
    /// no dropout for encoders (a few vectors train), 0.05 for causal LM.
    /// </summary>
    protected override MoSaraConfig CreatePreset(AdapterTask task, int totalSteps) => new()
    {
        Threshold = 0.1,
        KMin = 2,
        KMax = 16,
        NumSets = 4,
        LoraDropout = task == AdapterTask.CausalLanguageModeling ? 0.05 : 0,
    };

    /// <inheritdoc />
    public override double? RecommendedLearningRate(AdapterTask task) => task == AdapterTask.CausalLanguageModeling ? 1e-3 : null;

    /// <inheritdoc />
    public override IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        yield return ("svd-bases", new MoSaraConfig());
        yield return ("random-bases", new MoSaraConfig { Basis = MoSaraBasis.Random, BasisSeed = 5, RouteRawInput = true, OutputVector = true, NumSets = 2 });
    }

    /// <summary>
    /// Quality: the preset and its ablations (routing on the raw input, the output vector, random bases).
    /// Step time: k fixed at the benchmark's rank, 4 sets. Injection: the full SVD and the bases.
    /// </summary>
    public override IEnumerable<BenchmarkVariant> BenchmarkVariants()
    {
        yield return Benchmark(BenchmarkKind.Quality, "mosara E=4 (m=0.1)", s => CreateEncoderPreset(s.TotalSteps)) with { Quick = true };
        yield return Benchmark(BenchmarkKind.Quality, "mosara E=4 raw routing", s => With(CreateEncoderPreset(s.TotalSteps), c => c.RouteRawInput = true));
        yield return Benchmark(BenchmarkKind.Quality, "mosara E=4 + output vector", s => With(CreateEncoderPreset(s.TotalSteps), c => c.OutputVector = true));
        yield return Benchmark(BenchmarkKind.Quality, "mosara E=4 random bases", s => With(CreateEncoderPreset(s.TotalSteps), c => c.Basis = MoSaraBasis.Random));
        yield return Benchmark(BenchmarkKind.StepTime, "mosara", s => new MoSaraConfig { Threshold = 1.0, KMin = s.Rank, KMax = s.Rank, NumSets = 4 }) with { Tolerance = 1.05 };
        yield return Benchmark(BenchmarkKind.Injection, "Mo-SARA injection (full SVD and bases)", _ => new MoSaraConfig { Threshold = 0.1 });
    }

    /// <inheritdoc />
    protected override LowRankPath CreatePath(MoSaraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var k = RankFor(config, moduleName, target);
        var (basisA, basisB) = Bases(config, moduleName, target, k);
        try
        {
            return new MoSaraPath(target.InFeatures, target.OutFeatures, k, config.NumSets, basisA, basisB, config.RouteRawInput, config.OutputVector, config.LoraDropout, context.Generator);
        }
        finally
        {
            basisA.Dispose();
            basisB.Dispose();
        }
    }

    /// <summary>The frozen bases <c>(V_kᵀ, U_k)</c> of a module (the caller disposes them).</summary>
    private static (Tensor A, Tensor B) Bases(MoSaraConfig config, string moduleName, LinearTarget target, int k)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor basisA, basisB;
        if (config.Basis == MoSaraBasis.Svd)
        {
            var (u, _, vh) = linalg.svd(SaraRankSelection.OutByIn(target).detach().to(ScalarType.Float32), fullMatrices: false);
            basisB = u[.., ..k].contiguous();
            basisA = vh[..k, ..].contiguous();
        }
        else
        {
            using var generator = new Generator((ulong)(config.BasisSeed * 1_000_003L + StableHash(moduleName)));

            // Kaiming-uniform with a = √5, i.e. U(±1/√fan_in), as nn.Linear initialises.
            basisA = empty(k, target.InFeatures);
            basisB = empty(target.OutFeatures, k);
            nn.init.uniform_(basisA, -1 / Math.Sqrt(target.InFeatures), 1 / Math.Sqrt(target.InFeatures), generator);
            nn.init.uniform_(basisB, -1 / Math.Sqrt(k), 1 / Math.Sqrt(k), generator);
        }

        return (basisA.MoveToOuterDisposeScope(), basisB.MoveToOuterDisposeScope());
    }

    private static MoSaraConfig With(MoSaraConfig config, Action<MoSaraConfig> change)
    {
        change(config);
        return config;
    }

    /// <summary>A hash of <paramref name="text"/> that is the same in every process (string.GetHashCode is randomised).</summary>
    private static long StableHash(string text)
    {
        ulong hash = 14695981039346656037;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211;
        }

        return (long)(hash >> 1);
    }
}
