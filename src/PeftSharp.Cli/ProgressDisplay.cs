using PeftSharp.Training;
using Spectre.Console;

namespace PeftSharp.Cli;

/// <summary>
/// Training progress for people: a Spectre.Console progress bar (loss, lr, steps/s, ETA) when
/// standard output is a terminal; the trainer's plain lines when it is redirected (logs, CI).
/// </summary>
internal static class ProgressDisplay
{
    /// <summary>True when output goes to a terminal that can show a live bar.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>
    /// Runs <paramref name="work"/> with a factory of per-run progress sinks and the log to use:
    /// live bars (one per run title) and no step lines on a terminal, plain lines otherwise.
    /// </summary>
    public static T Run<T>(Func<Func<string, IProgress<TrainingProgress>?>, TextWriter, T> work)
    {
        if (!Interactive)
        {
            return work(_ => null, Console.Out);
        }

        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context => work(title => new BarProgress(context.AddTask(title, maxValue: 1), title), TextWriter.Null));
    }

    private sealed class BarProgress(ProgressTask task, string title) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            task.MaxValue = value.Total;
            task.Value = value.Step;
            var loss = value.Loss > 0 ? string.Create(CultureInfo.InvariantCulture, $"  loss {value.Loss:F4}") : string.Empty;
            var lr = value.LearningRate > 0 ? string.Create(CultureInfo.InvariantCulture, $"  lr {value.LearningRate:0.##e+0}") : string.Empty;
            task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"{title}  {value.Step}/{value.Total}{loss}{lr}  {value.StepsPerSecond:F2}/s  ETA {value.Eta:hh\\:mm\\:ss}"));
        }
    }
}
