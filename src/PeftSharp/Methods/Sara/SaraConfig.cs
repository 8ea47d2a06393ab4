using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Methods.Lora;

namespace PeftSharp.Methods.Sara;

/// <summary>The form of a SARA path [R].</summary>
public enum SaraForm
{
    /// <summary>Plain LoRA factors of rank k (A Kaiming-uniform, B = 0), scaling alpha / k.</summary>
    Lora,

    /// <summary>Singular-value form <c>s · P · diag(λ) · Q</c> (P, Q ~ N(0, 0.02²), λ = 0), scaling alpha / k.</summary>
    Svd,
}

/// <summary>
/// SARA (Gu et al., arXiv 2408.03290): every target module gets its own rank k, chosen once at
/// initialisation from the SVD of its pretrained weight (<see cref="SaraRankConfig"/>), then trains
/// like LoRA. No official code exists; the [R] choices are options documented in docs/methods/sara.md.
/// </summary>
public sealed class SaraConfig : SaraRankConfig
{
    /// <summary>Native type name.</summary>
    public const string Type = "SARA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>The path form (default <see cref="SaraForm.Lora"/>, the better of the two on the bundled tasks; see docs/methods/sara.md).</summary>
    public SaraForm Form { get; set; } = SaraForm.Lora;

    /// <summary>Scaling numerator: each module's scaling is <c>LoraAlpha / k</c> (default 16).</summary>
    public double LoraAlpha { get; set; } = 16;

    /// <summary>Dropout on the adapter input.</summary>
    public double LoraDropout { get; set; }

    /// <summary>Weight of AdaLoRA's orthogonality penalty on P and Q for the <see cref="SaraForm.Svd"/> form (default 0: off) [R].</summary>
    public double OrthRegWeight { get; set; }

    /// <summary>
    /// The preset for encoder classification: query and value, threshold m 0.1 with ranks clamped to
    /// [2, 16] (on the bundled base this averages close to LoRA's r 8), alpha 16, classifier and pooler
    /// trained in full.
    /// </summary>
    public static SaraConfig ForEncoderClassification() => new()
    {
        Threshold = 0.1,
        KMin = 2,
        KMax = 16,
        LoraAlpha = 16,
        LoraDropout = 0.1,
        TargetModules = Adapters.TargetModules.FromNames("query", "value"),
        ModulesToSave = ["classifier", "pooler"],
        TaskType = "SEQ_CLS",
    };

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context)
    {
        var k = RankFor(moduleName, target);
        return Form == SaraForm.Svd
            ? new SaraPath(target.InFeatures, target.OutFeatures, k, LoraAlpha, LoraDropout, context.Generator)
            : new LoraPath(target.InFeatures, target.OutFeatures, k, LoraAlpha, LoraDropout, generator: context.Generator);
    }

    /// <inheritdoc />
    public override TrainingController? CreateController(string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        Form == SaraForm.Svd && OrthRegWeight > 0
            ? new SaraController(modules.Select(m => m.Layer.GetPath(adapterName)).OfType<SaraPath>().ToList(), OrthRegWeight)
            : null;

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["form"] = Form == SaraForm.Svd ? "svd" : "lora";
        json["lora_alpha"] = LoraAlpha;
        json["lora_dropout"] = LoraDropout;
        json["orth_reg_weight"] = OrthRegWeight;
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        Form = json.String("form", "lora") switch
        {
            "lora" => SaraForm.Lora,
            "svd" => SaraForm.Svd,
            var other => throw json.Error("form", $"expected \"lora\" or \"svd\", got \"{other}\""),
        };
        LoraAlpha = json.Double("lora_alpha", 16);
        LoraDropout = json.Double("lora_dropout", 0);
        OrthRegWeight = json.Double("orth_reg_weight", 0);
    }
}
