using PeftSharp.Adapters;
using PeftSharp.IO.Json;

namespace PeftSharp.Methods.TiedLora;

/// <summary>
/// Tied-LoRA (Renduchintala et al., NAACL 2024): one A and one B per target type shared by all
/// adapted layers, per-layer vectors u (r) and v (out), <c>ΔW_l = s · diag(v_l) · B · diag(u_l) · A</c>.
/// The configuration is explicit flags (<see cref="TrainA"/>, <see cref="TrainB"/>, <see cref="TrainU"/>,
/// <see cref="TrainV"/>, <see cref="TieAB"/>) with presets TL1–TL6 and VeRA. The initial values
/// follow the spec's rules so ΔW = 0 at start: v = 0 when v trains, else u = 0 when u trains, else B = 0.
/// </summary>
public sealed class TiedLoraConfig : LowRankConfig
{
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
    [JsonConverter(typeof(SnakeCaseEnumConverter<TiedLoraInit>))]
    public TiedLoraInit InitAB { get; set; } = TiedLoraInit.Normal;

    /// <summary>Initial u when u trains and v also trains (default 1; VeRA's d_initial is 0.1).</summary>
    [Finite] public double UInit { get; set; } = 1.0;

    /// <summary>Use <c>s = LoraAlpha / R</c> instead of the reference's s = 1.</summary>
    public bool ScaleByAlphaOverR { get; set; }

    /// <summary>Seed of VeRA's projections.</summary>
    public int ProjectionPrngKey { get; set; }

    /// <summary>The preset's name, when one was used (informational).</summary>
    public string? Preset { get; set; }

    /// <summary>The scaling s.</summary>
    [JsonIgnore]
    public double Scaling => ScaleByAlphaOverR ? LoraAlpha / R : 1.0;

    /// <summary>The flags as a record.</summary>
    [JsonIgnore]
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

    /// <summary>Trainable adapter parameters for <paramref name="layers"/> adapted modules of one shape and type sharing a pair (the spec's table).</summary>
    public long TrainableParameters(int layers, int inFeatures, int outFeatures) =>
        (TieAB ? 1 : layers) * ((TrainA ? (long)R * inFeatures : 0) + (TrainB ? (long)outFeatures * R : 0))
        + layers * ((TrainU ? R : 0) + (TrainV ? (long)outFeatures : 0));

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.Require(TrainA || TrainB || TrainU || TrainV, nameof(TrainA), "train_a", "true when train_b, train_u and train_v are false (something must train)", false);
        check.Require(TieAB || !ShareAcrossShapes, nameof(ShareAcrossShapes), "share_across_shapes", "false when tie_ab is false", true);
    }
}
