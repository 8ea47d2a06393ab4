using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;

namespace PeftSharp.Methods.Sora;

/// <summary>
/// SoRA (Ding et al., 2023): gated low-rank paths trained with an L1 term and a proximal gate
/// optimizer, pruned afterwards into a compact LoRA (<see cref="PeftSharp.Methods.Lora.PlainLoraExport"/>
/// drops zero gates and folds the rest into B). Field names follow the official scripts
/// (<c>sparse_lambda</c>, <c>sparse_lambda_2</c>, <c>lambda_schedule</c>, ...); PEFT has no SoRA, so
/// the native checkpoint's <c>peft_type</c> is <c>SORA</c> and the PEFT-loadable form is the LoRA export.
/// </summary>
public sealed class SoraConfig : AdapterConfig
{
    /// <summary>Native type name.</summary>
    public const string Type = "SORA";

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>r_max, the number of gated components per module (default 8).</summary>
    public int R { get; set; } = 8;

    /// <summary>Scaling numerator; the scaling is <c>LoraAlpha / R</c> and never changes (default 16).</summary>
    public double LoraAlpha { get; set; } = 16;

    /// <summary>Dropout on the adapter input.</summary>
    public double LoraDropout { get; set; }

    /// <summary>Coefficient of the L1 term added to the loss, divided by the number of gate entries (official <c>sparse_lambda</c>, default 10).</summary>
    public double SparseLambda { get; set; } = 10;

    /// <summary>ξ, the gate optimizer's threshold (official <c>sparse_lambda_2</c>, default 3e-4); the start of a schedule.</summary>
    public double SparseLambda2 { get; set; } = 3e-4;

    /// <summary>Gate learning rate before the warm-up/decay factor (null: the trainer's learning rate).</summary>
    public double? GateLearningRate { get; set; }

    /// <summary>Threshold semantics (default: the official code's).</summary>
    public SoraThresholdMode ThresholdMode { get; set; } = SoraThresholdMode.Reference;

    /// <summary>The sparsifying scheduler's spacing of ξ values (default none).</summary>
    public SoraLambdaSchedule LambdaSchedule { get; set; } = SoraLambdaSchedule.None;

    /// <summary>Last ξ of the schedule.</summary>
    public double? MaxLambda { get; set; }

    /// <summary>Number of ξ values in the schedule (stages).</summary>
    public int? LambdaNum { get; set; }

    /// <summary>Optimizer steps per stage: ξ moves to its next value after every this many steps (required with a schedule).</summary>
    public int? LambdaStageSteps { get; set; }

    /// <summary>
    /// The reference GLUE setting (r_max 8, alpha 16, ξ 3e-4 on query and value; classifier and pooler
    /// trained in full) with the L1 coefficient at 1: the scripts' 10 is for 20-epoch runs whose gates
    /// sit behind a 0.1 gradient clip, much longer than the bundled tasks' runs.
    /// </summary>
    public static SoraConfig ForEncoderClassification() => new()
    {
        R = 8,
        LoraAlpha = 16,
        LoraDropout = 0.1,
        SparseLambda = 1,
        SparseLambda2 = 3e-4,
        TargetModules = Adapters.TargetModules.FromNames("query", "value"),
        ModulesToSave = ["classifier", "pooler"],
        TaskType = "SEQ_CLS",
    };

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new PeftConfigurationException($"SoraConfig.R (r_max) must be positive, got {R}");
        }

        if (SparseLambda < 0 || SparseLambda2 < 0 || !double.IsFinite(SparseLambda) || !double.IsFinite(SparseLambda2))
        {
            throw new PeftConfigurationException($"SoraConfig.SparseLambda and SparseLambda2 must be finite and ≥ 0, got {SparseLambda} and {SparseLambda2}");
        }

        if (LambdaSchedule != SoraLambdaSchedule.None)
        {
            SoraGateOptimizer.LambdaList(SparseLambda2, LambdaSchedule, MaxLambda, LambdaNum);
            if (LambdaStageSteps is not > 0)
            {
                throw new PeftConfigurationException($"SoraConfig.LambdaStageSteps must be positive with the {LambdaSchedule} ξ schedule, got {LambdaStageSteps?.ToString() ?? "none"}");
            }
        }
    }

    /// <inheritdoc />
    public override LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context) =>
        new SoraPath(target.InFeatures, target.OutFeatures, R, LoraAlpha, LoraDropout, context.Generator);

    /// <inheritdoc />
    public override TrainingController? CreateController(string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        new SoraController(modules.Select(m => m.Layer.GetPath(adapterName)).OfType<SoraPath>().ToList(), this);

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["r"] = R;
        json["lora_alpha"] = LoraAlpha;
        json["lora_dropout"] = LoraDropout;
        json["sparse_lambda"] = SparseLambda;
        json["sparse_lambda_2"] = SparseLambda2;
        json["gate_lr"] = GateLearningRate;
        json["threshold_mode"] = ThresholdMode == SoraThresholdMode.Reference ? "reference" : "proximal";
        json["lambda_schedule"] = ScheduleName(LambdaSchedule);
        json["max_lambda"] = MaxLambda;
        json["lambda_num"] = LambdaNum;
        json["lambda_stage_steps"] = LambdaStageSteps;
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        R = json.Int("r", 8);
        LoraAlpha = json.Double("lora_alpha", 16);
        LoraDropout = json.Double("lora_dropout", 0);
        SparseLambda = json.Double("sparse_lambda", 10);
        SparseLambda2 = json.Double("sparse_lambda_2", 3e-4);
        GateLearningRate = json.Has("gate_lr") ? json.Double("gate_lr", 0) : null;
        ThresholdMode = json.String("threshold_mode", "reference") switch
        {
            "reference" => SoraThresholdMode.Reference,
            "proximal" => SoraThresholdMode.Proximal,
            var other => throw json.Error("threshold_mode", $"expected \"reference\" or \"proximal\", got \"{other}\""),
        };
        var schedule = json.String("lambda_schedule", null);
        LambdaSchedule = Enum.GetValues<SoraLambdaSchedule>().FirstOrDefault(s => ScheduleName(s) == schedule, (SoraLambdaSchedule)(-1));
        if ((int)LambdaSchedule < 0)
        {
            throw json.Error("lambda_schedule", $"expected null, \"linear\", \"log_linear\" or \"exp_linear\", got \"{schedule}\"");
        }

        MaxLambda = json.Has("max_lambda") ? json.Double("max_lambda", 0) : null;
        LambdaNum = json.Has("lambda_num") ? json.Int("lambda_num", 0) : null;
        LambdaStageSteps = json.Has("lambda_stage_steps") ? json.Int("lambda_stage_steps", 0) : null;
    }

    private static string? ScheduleName(SoraLambdaSchedule schedule) => schedule switch
    {
        SoraLambdaSchedule.Linear => "linear",
        SoraLambdaSchedule.LogLinear => "log_linear",
        SoraLambdaSchedule.ExpLinear => "exp_linear",
        _ => null,
    };
}
