namespace PeftSharp.Training;

/// <summary>
/// A run stopped at a step boundary because its <see cref="CancellationToken"/> was cancelled; the
/// checkpoint of that step was saved first (when the run has an output directory), so the run resumes
/// from it to the same result as an uninterrupted one.
/// </summary>
public sealed class TrainingCanceledException : OperationCanceledException
{
    /// <summary>Creates the exception.</summary>
    public TrainingCanceledException(int step, string? checkpointDirectory, CancellationToken token)
        : base(checkpointDirectory is null ? $"training cancelled after step {step} (no output directory: nothing saved)" : $"training cancelled after step {step}; checkpoint saved in {checkpointDirectory}", token)
    {
        Step = step;
        CheckpointDirectory = checkpointDirectory;
    }

    /// <summary>Optimizer steps done (the step of the saved checkpoint).</summary>
    public int Step { get; }

    /// <summary>The checkpoint folder to resume from, or null when the run had no output directory.</summary>
    public string? CheckpointDirectory { get; }
}
