using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara;

/// <summary>Where Mo-SARA's frozen bases come from [R].</summary>
public enum MoSaraBasis
{
    /// <summary>The top-k singular vectors of the pretrained weight (same SVD as the rank choice).</summary>
    Svd,

    /// <summary>Seeded random bases (Kaiming-uniform, VeRA-like).</summary>
    Random,
}

/// <summary>
/// Mo-SARA (Gu et al., arXiv 2408.03290): per module the rank k of <see cref="SaraRankConfig"/>,
/// frozen bases, and only E sets of k singular values plus a small router trained
/// (<see cref="MoSaraPath"/>). No official code exists; the [R] choices are options documented in
/// docs/methods/sara.md. The frozen bases are saved with the adapter (they are not recomputed on load).
/// </summary>
public sealed class MoSaraConfig : SaraRankConfig
{
    /// <summary>Native type name.</summary>
    public const string Type = "MOSARA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>E, the number of singular-value sets (default 4).</summary>
    public int NumSets { get; set; } = 4;

    /// <summary>The bases (default <see cref="MoSaraBasis.Svd"/>).</summary>
    public MoSaraBasis Basis { get; set; } = MoSaraBasis.Svd;

    /// <summary>Route on the raw input x instead of the projected V_kᵀ x (default false).</summary>
    public bool RouteRawInput { get; set; }

    /// <summary>Train an output vector v (init 1) as well (default false).</summary>
    public bool OutputVector { get; set; }

    /// <summary>Seed of random bases.</summary>
    public int BasisSeed { get; set; }

    /// <summary>Dropout on the adapter input.</summary>
    public double LoraDropout { get; set; }

    /// <summary>The preset for encoder classification: query and value, m 0.1 with k in [2, 16], 4 sets, SVD bases; classifier and pooler trained in full.</summary>
    public static MoSaraConfig ForEncoderClassification() => new()
    {
        Threshold = 0.1,
        KMin = 2,
        KMax = 16,
        NumSets = 4,
        TargetModules = Adapters.TargetModules.FromNames("query", "value"),
        ModulesToSave = ["classifier", "pooler"],
        TaskType = "SEQ_CLS",
    };

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (NumSets < 1)
        {
            throw new PeftConfigurationException($"MoSaraConfig.NumSets must be ≥ 1, got {NumSets}");
        }
    }

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var k = RankFor(moduleName, target);
        var (basisA, basisB) = Bases(moduleName, target, k);
        try
        {
            return new MoSaraPath(target.InFeatures, target.OutFeatures, k, NumSets, basisA, basisB, RouteRawInput, OutputVector, LoraDropout, context.Generator);
        }
        finally
        {
            basisA.Dispose();
            basisB.Dispose();
        }
    }

    /// <summary>The frozen bases <c>(V_kᵀ, U_k)</c> of a module (the caller disposes them).</summary>
    private (Tensor A, Tensor B) Bases(string moduleName, LinearTarget target, int k)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor basisA, basisB;
        if (Basis == MoSaraBasis.Svd)
        {
            var (u, _, vh) = linalg.svd(SaraRankSelection.OutByIn(target).detach().to(ScalarType.Float32), fullMatrices: false);
            basisB = u[.., ..k].contiguous();
            basisA = vh[..k, ..].contiguous();
        }
        else
        {
            using var generator = new Generator((ulong)(BasisSeed * 1_000_003L + StableHash(moduleName)));

            // Kaiming-uniform with a = √5, i.e. U(±1/√fan_in), as nn.Linear initialises.
            basisA = empty(k, target.InFeatures);
            basisB = empty(target.OutFeatures, k);
            nn.init.uniform_(basisA, -1 / Math.Sqrt(target.InFeatures), 1 / Math.Sqrt(target.InFeatures), generator);
            nn.init.uniform_(basisB, -1 / Math.Sqrt(k), 1 / Math.Sqrt(k), generator);
        }

        return (basisA.MoveToOuterDisposeScope(), basisB.MoveToOuterDisposeScope());
    }

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["num_sets"] = NumSets;
        json["basis"] = Basis == MoSaraBasis.Svd ? "svd" : "random";
        json["route_raw_input"] = RouteRawInput;
        json["output_vector"] = OutputVector;
        json["basis_seed"] = BasisSeed;
        json["lora_dropout"] = LoraDropout;
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        NumSets = json.Int("num_sets", 4);
        Basis = json.String("basis", "svd") switch
        {
            "svd" => MoSaraBasis.Svd,
            "random" => MoSaraBasis.Random,
            var other => throw json.Error("basis", $"expected \"svd\" or \"random\", got \"{other}\""),
        };
        RouteRawInput = json.Bool("route_raw_input", false);
        OutputVector = json.Bool("output_vector", false);
        BasisSeed = json.Int("basis_seed", 0);
        LoraDropout = json.Double("lora_dropout", 0);
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

/// <summary>Mo-SARA operations on a whole model.</summary>
public static class MoSara
{
    /// <summary>
    /// Runs <paramref name="runData"/> (which should run the model over a representative dataset) while
    /// every Mo-SARA path of <paramref name="adapterName"/> averages its routing weights, then fixes
    /// them: afterwards the adapter can be merged or exported as plain LoRA, <b>approximately</b>
    /// (each token's own mixture is replaced by the dataset average). Returns the tokens seen.
    /// </summary>
    public static long CalibrateRouting(PeftModel peft, Action runData, string? adapterName = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        var paths = peft.ModulesOf(name).Select(m => m.Layer.GetPath(name)).OfType<MoSaraPath>().ToList();
        if (paths.Count == 0)
        {
            throw new InvalidOperationException($"adapter '{name}' has no Mo-SARA modules");
        }

        foreach (var path in paths)
        {
            path.BeginRoutingCalibration();
        }

        runData();
        return paths.Select(p => p.EndRoutingCalibration()).Min();
    }
}
