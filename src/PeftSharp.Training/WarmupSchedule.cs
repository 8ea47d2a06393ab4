namespace PeftSharp.Training;

/// <summary>
/// The learning-rate schedule of a run: linear warm-up from <c>1/warmup</c> to 1 over the first
/// <see cref="WarmupSteps"/> steps, then <see cref="Decay"/> (linear or cosine to 0, or constant)
/// over the rest. The optimizer's rate at a step is the peak rate times <see cref="Factor"/>.
/// </summary>
public sealed class WarmupSchedule
{
    /// <summary>Creates the schedule of a run of <paramref name="totalSteps"/> optimizer steps.</summary>
    public WarmupSchedule(int warmupSteps, int totalSteps, LearningRateSchedule decay)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmupSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(totalSteps);
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        Decay = decay;
    }

    /// <summary>Steps of linear warm-up.</summary>
    public int WarmupSteps { get; }

    /// <summary>Optimizer steps of the whole run.</summary>
    public int TotalSteps { get; }

    /// <summary>What follows the warm-up.</summary>
    public LearningRateSchedule Decay { get; }

    /// <summary>The schedule <paramref name="options"/> asks for over <paramref name="totalSteps"/> steps (warm-up: <see cref="TrainerOptions.WarmupSteps"/>, else <c>ceil(WarmupRatio × total)</c>).</summary>
    public static WarmupSchedule For(TrainerOptions options, int totalSteps) =>
        new(options.WarmupSteps ?? (int)Math.Ceiling(options.WarmupRatio * totalSteps), totalSteps, options.Schedule);

    /// <summary>The factor of the peak learning rate at optimizer step <paramref name="step"/> (0-based).</summary>
    public double Factor(int step)
    {
        if (step < WarmupSteps)
        {
            return (step + 1.0) / WarmupSteps;
        }

        var progress = (step - WarmupSteps) / (double)Math.Max(1, TotalSteps - WarmupSteps);
        return Decay switch
        {
            LearningRateSchedule.Cosine => 0.5 * (1 + Math.Cos(Math.PI * progress)),
            LearningRateSchedule.Constant => 1.0,
            _ => Math.Max(0.0, 1.0 - progress),
        };
    }
}
