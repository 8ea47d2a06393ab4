using PeftSharp.Adapters;
using PeftSharp.IO.Json;

namespace PeftSharp.Methods.Sora;

/// <summary>
/// SoRA (Ding et al., 2023): gated low-rank paths (r_max = <see cref="LowRankConfig.R"/> components,
/// scaling alpha / r_max) trained with an L1 term and a proximal gate optimizer, pruned afterwards into
/// a compact LoRA (<see cref="PeftSharp.Methods.Lora.PlainLoraExport"/>). Field names follow the
/// official scripts (<c>sparse_lambda</c>, <c>sparse_lambda_2</c>, <c>lambda_schedule</c>, ...); PEFT
/// has no SoRA, so the native <c>peft_type</c> is <c>SORA</c> and the PEFT-loadable form is the LoRA export.
/// </summary>
public sealed class SoraConfig : LowRankConfig
{
    /// <summary>Creates the defaults: r_max 8, alpha 16.</summary>
    public SoraConfig() => LoraAlpha = 16;

    /// <summary>Coefficient of the L1 term added to the loss, divided by the number of gate entries (official <c>sparse_lambda</c>, default 10).</summary>
    [NonNegative] public double SparseLambda { get; set; } = 10;

    /// <summary>ξ, the gate optimizer's threshold (official <c>sparse_lambda_2</c>, default 3e-4); the start of a schedule.</summary>
    [JsonPropertyName("sparse_lambda_2")]
    [NonNegative] public double SparseLambda2 { get; set; } = 3e-4;

    /// <summary>Gate learning rate before the warm-up/decay factor (null: the trainer's learning rate).</summary>
    [JsonPropertyName("gate_lr")]
    public double? GateLearningRate { get; set; }

    /// <summary>Threshold semantics (default: the official code's).</summary>
    [JsonConverter(typeof(SnakeCaseEnumConverter<SoraThresholdMode>))]
    public SoraThresholdMode ThresholdMode { get; set; } = SoraThresholdMode.Reference;

    /// <summary>The sparsifying scheduler's spacing of ξ values (default none).</summary>
    [JsonConverter(typeof(SoraLambdaScheduleConverter))]
    public SoraLambdaSchedule LambdaSchedule { get; set; } = SoraLambdaSchedule.None;

    /// <summary>Last ξ of the schedule.</summary>
    public double? MaxLambda { get; set; }

    /// <summary>Number of ξ values in the schedule (stages).</summary>
    public int? LambdaNum { get; set; }

    /// <summary>Optimizer steps per stage: ξ moves to its next value after every this many steps (required with a schedule).</summary>
    public int? LambdaStageSteps { get; set; }

    /// <summary>The most ξ values a schedule may have.</summary>
    public const int MaxStages = 10_000;

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.Require(GateLearningRate is null or > 0, nameof(GateLearningRate), "gate_lr", "a number > 0 or null", GateLearningRate);
        if (LambdaSchedule != SoraLambdaSchedule.None)
        {
            check.Require(MaxLambda is not null, nameof(MaxLambda), "max_lambda", $"set with the {LambdaSchedule} ξ schedule", MaxLambda);
            check.Require(LambdaNum is >= 1 and <= MaxStages, nameof(LambdaNum), "lambda_num", $"an integer in 1..{MaxStages} with the {LambdaSchedule} ξ schedule", LambdaNum);
            check.Require(LambdaSchedule != SoraLambdaSchedule.ExpLinear || (SparseLambda2 > 0 && MaxLambda > 0), nameof(MaxLambda), "max_lambda", "> 0, as sparse_lambda_2, with the exp_linear ξ schedule", MaxLambda);
            check.Require(LambdaStageSteps > 0, nameof(LambdaStageSteps), "lambda_stage_steps", $"an integer > 0 with the {LambdaSchedule} ξ schedule", LambdaStageSteps);
        }
    }
}
