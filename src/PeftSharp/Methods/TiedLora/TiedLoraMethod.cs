using PeftSharp.Adapters;
using PeftSharp.Conformance;
using PeftSharp.Methods.TiedLora.Verification;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Methods.TiedLora;

/// <summary>Tied-LoRA: builds <see cref="TiedLoraPath"/>s over <see cref="TiedPair"/>s shared through the build context, from <see cref="TiedLoraConfig"/>.</summary>
public sealed class TiedLoraMethod : AdapterMethod<TiedLoraConfig>
{
    private TiedLoraMethod()
        : base("tied_lora", "TIED_LORA", TiedLoraJsonContext.Default)
    {
    }

    private static readonly string[] Presets = ["TL1", "TL2", "TL3", "TL4", "TL5", "TL6", "VeRA"];

    /// <summary>The method.</summary>
    public static TiedLoraMethod Instance { get; } = new();

    /// <summary>The paper's TL6 at rank 8 (A, B tied per module type and shape, u and v per layer; the demo's preset).</summary>
    protected override TiedLoraConfig CreatePreset(AdapterTask task, int totalSteps)
    {
        var config = TiedLoraConfig.FromPreset("TL6");
        config.LoraDropout = PresetDropout(task);
        return config;
    }

    /// <inheritdoc />
    public override double? RecommendedLearningRate(AdapterTask task) => task == AdapterTask.CausalLanguageModeling ? 5e-4 : null;

    /// <inheritdoc />
    public override IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        foreach (var preset in Presets)
        {
            yield return (preset, TiedLoraConfig.FromPreset(preset, 4));
        }

        yield return ("untied-kaiming", new TiedLoraConfig { TieAB = false, InitAB = TiedLoraInit.Kaiming, ScaleByAlphaOverR = true });
    }

    /// <summary>Quality: every preset at rank 8 (TL6 in the quick subset) and VeRA at rank 64. Step time: TL6.</summary>
    public override IEnumerable<BenchmarkVariant> BenchmarkVariants()
    {
        foreach (var preset in Presets)
        {
            yield return Benchmark(BenchmarkKind.Quality, $"tied_lora {preset} r=8", _ => TiedLoraConfig.FromPreset(preset, 8)) with { Quick = preset == "TL6" };
        }

        yield return Benchmark(BenchmarkKind.Quality, "tied_lora VeRA r=64", _ => TiedLoraConfig.FromPreset("VeRA", 64));

        yield return Benchmark(BenchmarkKind.StepTime, "tied_lora", s => TiedLoraConfig.FromPreset("TL6", s.Rank)) with { Tolerance = 1.03 };
    }

    /// <inheritdoc />
    public override IConformanceHandler CreateConformanceHandler() => new TiedLoraConformance();

    /// <inheritdoc />
    protected override LowRankPath CreatePath(TiedLoraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var (key, inFeatures, outFeatures) = PairFor(config, moduleName, target, context);
        TiedPair pair;
        if (config.TieAB && context.Shared.TryGetValue(key, out var existing))
        {
            pair = (TiedPair)existing;
        }
        else
        {
            pair = CreatePair(config, key, inFeatures, outFeatures, context.Generator);
            if (config.TieAB)
            {
                context.Shared[key] = pair;
            }
        }

        // ΔW = 0 at start: v = 0 when v trains; else u = 0 when u trains; else B = 0 (CreatePair).
        var (u, v) = config.TrainV ? (config.UInit, 0.0) : config.TrainU ? (0.0, 1.0) : (1.0, 1.0);
        return new TiedLoraPath(target.InFeatures, target.OutFeatures, pair, config.Flags, config.Scaling, u, v, config.LoraDropout);
    }

    /// <summary>The pair key and size for a module: per target type and shape, one for all (VeRA), or its own (untied).</summary>
    private static (string Key, int In, int Out) PairFor(TiedLoraConfig config, string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        if (!config.TieAB)
        {
            return ($"untied.{moduleName}", target.InFeatures, target.OutFeatures);
        }

        if (config.ShareAcrossShapes)
        {
            var all = context.Targets.Count > 0 ? context.Targets.Select(t => t.Value).ToList() : [target];
            return ("tied_lora.shared", all.Max(t => t.InFeatures), all.Max(t => t.OutFeatures));
        }

        var type = moduleName[(moduleName.LastIndexOf('.') + 1)..];
        return ($"tied_lora.{type}.{target.InFeatures}x{target.OutFeatures}", target.InFeatures, target.OutFeatures);
    }

    private static TiedPair CreatePair(TiedLoraConfig config, string key, int inFeatures, int outFeatures, Generator? generator)
    {
        var a = nn.Parameter(empty(config.R, inFeatures));
        var b = nn.Parameter(empty(outFeatures, config.R));
        using var noGrad = no_grad();
        switch (config.InitAB)
        {
            case TiedLoraInit.Vera:
            {
                using var vera = new Generator((ulong)config.ProjectionPrngKey);
                var boundA = Math.Sqrt(6.0 / inFeatures);
                var boundB = Math.Sqrt(6.0 / config.R);
                nn.init.uniform_(a, -boundA, boundA, vera);
                nn.init.uniform_(b, -boundB, boundB, vera);
                break;
            }

            case TiedLoraInit.Kaiming:
                nn.init.uniform_(a, -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures), generator);
                nn.init.normal_(b, 0, 1, generator);
                break;
            default:
                nn.init.normal_(a, 0, 1, generator);
                nn.init.normal_(b, 0, 1, generator);
                break;
        }

        if (!config.TrainU && !config.TrainV)
        {
            // Neither vector can start at zero, so B does (and A takes a LoRA-style scale) [R].
            nn.init.uniform_(a, -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures), generator);
            b.zero_();
        }

        return new TiedPair(key, a, b);
    }
}
