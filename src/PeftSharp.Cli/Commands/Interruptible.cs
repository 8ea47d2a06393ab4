using System.Runtime.InteropServices;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary>Runs training so that Ctrl-C (SIGINT) stops it at the next step boundary with a checkpoint; a second Ctrl-C quits at once.</summary>
internal static class Interruptible
{
    /// <summary>
    /// Runs <paramref name="work"/> with a token that Ctrl-C cancels. True with its result when it
    /// finished; false (the user told how to resume) when it was interrupted.
    /// </summary>
    public static bool TryRun<T>(Func<CancellationToken, T> work, out T? result)
    {
        using var interrupt = new CancellationTokenSource();
        using var registration = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            if (!interrupt.IsCancellationRequested)
            {
                context.Cancel = true;
                Console.Error.WriteLine("interrupt: stopping after this step to save a checkpoint (Ctrl-C again quits without saving)");
                interrupt.Cancel();
            }
        });
        try
        {
            result = work(interrupt.Token);
            return true;
        }
        catch (TrainingCanceledException e)
        {
            Console.WriteLine(e.CheckpointDirectory is { } checkpoint
                ? $"interrupted after step {e.Step}: checkpoint saved in {checkpoint}; run the same command with --resume to continue"
                : $"interrupted after step {e.Step}: no checkpoint was saved; run the same command again to start over");
            result = default;
            return false;
        }
    }
}
