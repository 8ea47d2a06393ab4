using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Methods.TiedLora;

/// <summary>How the tied A and B start.</summary>
public enum TiedLoraInit
{
    /// <summary>A, B ~ N(0, 1) (the reference framework's tied scaled form); when neither u nor v trains, B = 0 instead.</summary>
    Normal,

    /// <summary>A Kaiming-uniform (a = √5), B ~ N(0, 1) (B = 0 when neither u nor v trains).</summary>
    Kaiming,

    /// <summary>VeRA's: both Kaiming-uniform with gain √2 (bound √(6/fan_in)) from a CPU generator seeded with <see cref="TiedLoraConfig.ProjectionPrngKey"/>, A first, then B.</summary>
    Vera,
}

/// <summary>
/// Tied-LoRA (Renduchintala et al., NAACL 2024): one A and one B per target type shared by all
/// adapted layers, per-layer vectors u (r) and v (out), <c>ΔW_l = s · diag(v_l) · B · diag(u_l) · A</c>.
/// The configuration is explicit flags (<see cref="TrainA"/>, <see cref="TrainB"/>, <see cref="TrainU"/>,
/// <see cref="TrainV"/>, <see cref="TieAB"/>) with presets TL1–TL6 and VeRA. The initial values
/// follow the spec's rules so ΔW = 0 at start: v = 0 when v trains, else u = 0 when u trains, else B = 0.
/// </summary>
public sealed class TiedLoraConfig : AdapterConfig
{
    /// <summary>Native type name.</summary>
    public const string Type = "TIED_LORA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>Rank of the tied pair (default 8).</summary>
    public int R { get; set; } = 8;

    /// <summary>A trains (default true).</summary>
    public bool TrainA { get; set; } = true;

    /// <summary>B trains (default true).</summary>
    public bool TrainB { get; set; } = true;

    /// <summary>u trains (default true).</summary>
    public bool TrainU { get; set; } = true;

    /// <summary>v trains (default true).</summary>
    public bool TrainV { get; set; } = true;

    /// <summary>A and B shared by all layers of a target type (default true); false gives each layer its own pair.</summary>
    public bool TieAB { get; set; } = true;

    /// <summary>One pair for every adapted module, sized for the largest and sliced per layer (VeRA), instead of one per target type and shape.</summary>
    public bool ShareAcrossShapes { get; set; }

    /// <summary>Initial A and B.</summary>
    public TiedLoraInit InitAB { get; set; } = TiedLoraInit.Normal;

    /// <summary>Initial u when u trains and v also trains (default 1; VeRA's d_initial is 0.1).</summary>
    public double UInit { get; set; } = 1.0;

    /// <summary>Use <c>s = LoraAlpha / R</c> instead of the reference's s = 1.</summary>
    public bool ScaleByAlphaOverR { get; set; }

    /// <summary>Scaling numerator when <see cref="ScaleByAlphaOverR"/>.</summary>
    public double LoraAlpha { get; set; } = 8;

    /// <summary>Dropout on the adapter input.</summary>
    public double LoraDropout { get; set; }

    /// <summary>Seed of VeRA's projections.</summary>
    public int ProjectionPrngKey { get; set; }

    /// <summary>The preset's name, when one was used (informational).</summary>
    public string? Preset { get; set; }

    /// <summary>The scaling s.</summary>
    public double Scaling => ScaleByAlphaOverR ? LoraAlpha / R : 1.0;

    /// <summary>The flags as a record.</summary>
    public TiedLoraFlags Flags => new(TrainA, TrainB, TrainU, TrainV, TieAB);

    /// <summary>
    /// A preset: <c>TL1</c> (A, B trained; u, v frozen at 1), <c>TL2</c> (+u), <c>TL3</c> (+v),
    /// <c>TL4</c> (A frozen; B, u, v trained), <c>TL5</c> (B frozen; A, u, v trained), <c>TL6</c>
    /// (everything trained, the paper's recommendation) or <c>VeRA</c> (A, B frozen random, shared across
    /// shapes; u = d starts at 0.1, v = b at 0). A and B are tied in all of them.
    /// </summary>
    public static TiedLoraConfig FromPreset(string preset, int r = 8)
    {
        var (a, b, u, v) = preset.ToUpperInvariant() switch
        {
            "TL1" => (true, true, false, false),
            "TL2" => (true, true, true, false),
            "TL3" => (true, true, false, true),
            "TL4" => (false, true, true, true),
            "TL5" => (true, false, true, true),
            "TL6" => (true, true, true, true),
            "VERA" => (false, false, true, true),
            _ => throw new PeftConfigurationException($"unknown Tied-LoRA preset '{preset}' (expected TL1 … TL6 or VeRA)"),
        };
        var vera = preset.Equals("vera", StringComparison.OrdinalIgnoreCase);
        return new TiedLoraConfig
        {
            R = r, TrainA = a, TrainB = b, TrainU = u, TrainV = v, TieAB = true,
            ShareAcrossShapes = vera,
            InitAB = vera ? TiedLoraInit.Vera : TiedLoraInit.Normal,
            UInit = vera ? 0.1 : 1.0,
            Preset = vera ? "VeRA" : preset.ToUpperInvariant(),
        };
    }

    /// <summary>TL6 at rank 8 on query and value, classifier and pooler trained in full (the demo's preset).</summary>
    public static TiedLoraConfig ForEncoderClassification()
    {
        var config = FromPreset("TL6");
        config.LoraDropout = 0.1;
        config.TargetModules = Adapters.TargetModules.FromNames("query", "value");
        config.ModulesToSave = ["classifier", "pooler"];
        config.TaskType = "SEQ_CLS";
        return config;
    }

    /// <summary>Trainable adapter parameters for <paramref name="layers"/> adapted modules of one shape and type sharing a pair (the spec's table).</summary>
    public long TrainableParameters(int layers, int inFeatures, int outFeatures) =>
        (TieAB ? 1 : layers) * ((TrainA ? (long)R * inFeatures : 0) + (TrainB ? (long)outFeatures * R : 0))
        + layers * ((TrainU ? R : 0) + (TrainV ? (long)outFeatures : 0));

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new PeftConfigurationException($"TiedLoraConfig.R must be positive, got {R}");
        }

        if (!TrainA && !TrainB && !TrainU && !TrainV)
        {
            throw new PeftConfigurationException("TiedLoraConfig: nothing trains (TrainA, TrainB, TrainU and TrainV are all false)");
        }

        if (ShareAcrossShapes && !TieAB)
        {
            throw new PeftConfigurationException("TiedLoraConfig.ShareAcrossShapes needs TieAB");
        }
    }

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var (key, inFeatures, outFeatures) = PairFor(moduleName, target, context);
        TiedPair pair;
        if (TieAB && context.Shared.TryGetValue(key, out var existing))
        {
            pair = (TiedPair)existing;
        }
        else
        {
            pair = CreatePair(key, inFeatures, outFeatures, context.Generator);
            if (TieAB)
            {
                context.Shared[key] = pair;
            }
        }

        // ΔW = 0 at start: v = 0 when v trains; else u = 0 when u trains; else B = 0 (CreatePair).
        var (u, v) = TrainV ? (UInit, 0.0) : TrainU ? (0.0, 1.0) : (1.0, 1.0);
        return new TiedLoraPath(target.InFeatures, target.OutFeatures, pair, Flags, Scaling, u, v, LoraDropout);
    }

    /// <summary>The pair key and size for a module: per target type and shape, one for all (VeRA), or its own (untied).</summary>
    private (string Key, int In, int Out) PairFor(string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        if (!TieAB)
        {
            return ($"untied.{moduleName}", target.InFeatures, target.OutFeatures);
        }

        if (ShareAcrossShapes)
        {
            var all = context.Targets.Count > 0 ? context.Targets.Select(t => t.Value).ToList() : [target];
            return ("tied_lora.shared", all.Max(t => t.InFeatures), all.Max(t => t.OutFeatures));
        }

        var type = moduleName[(moduleName.LastIndexOf('.') + 1)..];
        return ($"tied_lora.{type}.{target.InFeatures}x{target.OutFeatures}", target.InFeatures, target.OutFeatures);
    }

    private TiedPair CreatePair(string key, int inFeatures, int outFeatures, Generator? generator)
    {
        var a = nn.Parameter(empty(R, inFeatures));
        var b = nn.Parameter(empty(outFeatures, R));
        using var noGrad = no_grad();
        switch (InitAB)
        {
            case TiedLoraInit.Vera:
            {
                using var vera = new Generator((ulong)ProjectionPrngKey);
                var boundA = Math.Sqrt(6.0 / inFeatures);
                var boundB = Math.Sqrt(6.0 / R);
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

        if (!TrainU && !TrainV)
        {
            // Neither vector can start at zero, so B does (and A takes a LoRA-style scale) [R].
            nn.init.uniform_(a, -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures), generator);
            b.zero_();
        }

        return new TiedPair(key, a, b);
    }

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["r"] = R;
        json["train_a"] = TrainA;
        json["train_b"] = TrainB;
        json["train_u"] = TrainU;
        json["train_v"] = TrainV;
        json["tie_ab"] = TieAB;
        json["share_across_shapes"] = ShareAcrossShapes;
        json["init_ab"] = InitAB.ToString().ToLowerInvariant();
        json["u_init"] = UInit;
        json["scale_by_alpha_over_r"] = ScaleByAlphaOverR;
        json["lora_alpha"] = LoraAlpha;
        json["lora_dropout"] = LoraDropout;
        json["projection_prng_key"] = ProjectionPrngKey;
        json["preset"] = Preset;
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        R = json.Int("r", 8);
        TrainA = json.Bool("train_a", true);
        TrainB = json.Bool("train_b", true);
        TrainU = json.Bool("train_u", true);
        TrainV = json.Bool("train_v", true);
        TieAB = json.Bool("tie_ab", true);
        ShareAcrossShapes = json.Bool("share_across_shapes", false);
        InitAB = json.String("init_ab", "normal") switch
        {
            "normal" => TiedLoraInit.Normal,
            "kaiming" => TiedLoraInit.Kaiming,
            "vera" => TiedLoraInit.Vera,
            var other => throw json.Error("init_ab", $"expected \"normal\", \"kaiming\" or \"vera\", got \"{other}\""),
        };
        UInit = json.Double("u_init", 1.0);
        ScaleByAlphaOverR = json.Bool("scale_by_alpha_over_r", false);
        LoraAlpha = json.Double("lora_alpha", 8);
        LoraDropout = json.Double("lora_dropout", 0);
        ProjectionPrngKey = json.Int("projection_prng_key", 0);
        Preset = json.String("preset", null);
    }
}
