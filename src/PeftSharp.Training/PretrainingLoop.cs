using PeftSharp.Models;

namespace PeftSharp.Training;

/// <summary>
/// The optimisation every from-scratch pretraining shares, masked LM and causal LM alike: AdamW with
/// weight decay 0.01 except biases and norm weights, linear warm-up over 6 % of the steps (at least
/// one) then linear decay to 0 (<see cref="WarmupSchedule"/>), gradient clipping at 1, on the
/// <see cref="TrainingLoop"/>.
/// </summary>
internal static class PretrainingLoop
{
    /// <summary>Trains every parameter of <paramref name="model"/> on <paramref name="task"/> for <see cref="PretrainOptions.Steps"/> steps.</summary>
    public static TrainingOutcome Run(PretrainedModel model, TrainingTask task, PretrainOptions options, TextWriter log, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var decay = model.named_parameters().Where(p => !IsNoDecay(p.name)).Select(p => p.parameter).ToList();
        var noDecay = model.named_parameters().Where(p => IsNoDecay(p.name)).Select(p => p.parameter).ToList();
        ParameterGroup[] groups = [new("decay", decay, options.LearningRate, 0.01), new("no_decay", noDecay, options.LearningRate, 0.0)];
        var loopOptions = new TrainerOptions
        {
            MaxSteps = options.Steps, BatchSize = options.BatchSize, LearningRate = options.LearningRate, WeightDecay = 0.01,
            WarmupSteps = Math.Max(1, (int)(0.06 * options.Steps)), Schedule = LearningRateSchedule.Linear, MaxGradNorm = 1.0,
            Seed = options.Seed, LogEvery = options.LogEvery,
        };
        return new TrainingLoop(task, loopOptions, groups, peft: null, log, progress).Run(cancellationToken: cancellationToken);
    }

    /// <summary>Biases, LayerNorm and RMSNorm weights, and BERT's output bias are not decayed.</summary>
    private static bool IsNoDecay(string name) =>
        name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal)
        || name.EndsWith("norm.weight", StringComparison.Ordinal) || name == "cls.predictions.bias";
}
