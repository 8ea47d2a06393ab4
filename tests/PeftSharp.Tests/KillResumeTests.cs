using System.Collections.Concurrent;
using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Models;
using Xunit;
using Xunit.Abstractions;

namespace PeftSharp.Tests;

/// <summary>
/// <c>peft train</c> killed with SIGKILL at random moments, 50 times over the seven methods and a
/// causal-LM (SFT) run of LoRA on a tiny decoder: after
/// every kill the latest completed checkpoint loads, and <c>--resume</c> finishes the run with
/// exactly the files and metrics of an uninterrupted run.
/// </summary>
public sealed class KillResumeTests(ITestOutputHelper output) : IDisposable
{
    private const int Kills = 50;

    /// <summary>One intra-op thread per run: two runs side by side on two cores, without OpenMP oversubscription (4× slower otherwise); every run of the test uses the same setting, so results are comparable bit for bit.</summary>
    private static readonly Dictionary<string, string> OneThread = new() { ["OMP_NUM_THREADS"] = "1" };
    /// <summary>The run that fine-tunes a tiny decoder on prompt/completion records instead of a classifier.</summary>
    private const string CausalLm = "lora-causal-lm";
    private static readonly string[] Methods = [.. AdapterMethodRegistry.All.Select(m => m.Name), CausalLm];
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-resume-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string Base => Path.Combine(BundledDemoTests.Repository(), "models", "base");

    private string Task => Path.Combine(_temp.FullName, "task");

    private string Decoder => Path.Combine(_temp.FullName, "decoder");

    private string SftTask => Path.Combine(_temp.FullName, "sft-task");

    private string[] TrainArguments(string method, string runDirectory, bool resume)
    {
        string[] arguments = method == CausalLm
            ? ["train", "--base", Decoder, "--data", SftTask, "--method", "lora", "--steps", "16", "--eval-every", "8", "--save-every", "2", "--batch-size", "4", "--max-length", "64", "--output", runDirectory]
            : ["train", "--base", Base, "--data", Task, "--method", method, "--steps", "16", "--eval-every", "8", "--save-every", "2", "--batch-size", "4", "--max-length", "24", "--output", runDirectory];
        return resume ? [.. arguments, "--resume"] : arguments;
    }

    /// <summary>What must match between an interrupted and an uninterrupted run.</summary>
    private sealed record Outcome(string Metrics, string Ranks, byte[] BestAdapter, string TestLine);

    private static Outcome OutcomeOf(string runDirectory, string stdout) => new(
        File.ReadAllText(Path.Combine(runDirectory, "metrics.jsonl")),
        File.Exists(Path.Combine(runDirectory, "ranks.jsonl")) ? File.ReadAllText(Path.Combine(runDirectory, "ranks.jsonl")) : "",
        File.ReadAllBytes(Path.Combine(runDirectory, "best", "adapter_model.safetensors")),
        stdout.Split('\n').SingleOrDefault(l => l.StartsWith("test:", StringComparison.Ordinal)) ?? "");

    [Fact]
    public void FiftyKillsAtRandomMomentsAlwaysResumeToTheUninterruptedResult()
    {
        Cli.WriteTask(Task, ("train", 48), ("validation", 16), ("test", 16));
        SftTrainingTests.TinyDecoder(Decoder);
        Directory.CreateDirectory(SftTask);
        SftTrainingTests.WritePlurals(Path.Combine(SftTask, "train.jsonl"), 24);
        SftTrainingTests.WritePlurals(Path.Combine(SftTask, "validation.jsonl"), 8, offset: 24);
        var references = new Dictionary<string, Outcome>();
        foreach (var method in Methods)
        {
            var directory = Path.Combine(_temp.FullName, $"reference-{method}");
            var (code, stdout, stderr) = Cli.PeftWith(OneThread, TrainArguments(method, directory, resume: false));
            Assert.True(code == 0, stdout + stderr);
            references[method] = OutcomeOf(directory, stdout);
        }

        var report = new ConcurrentBag<string>();
        var failures = new ConcurrentBag<string>();
        Parallel.For(0, Kills, new ParallelOptions { MaxDegreeOfParallelism = 2 }, kill =>
        {
            var method = Methods[kill % Methods.Length];
            var random = new Random(20261123 + kill);
            var directory = Path.Combine(_temp.FullName, $"kill-{kill}");
            try
            {
                Killed? killed = null;
                for (var attempt = 0; attempt < 5 && killed is null; attempt++)
                {
                    Reset(directory);
                    killed = RunAndKill(TrainArguments(method, directory, resume: false), KillMoment.Draw(random, kill));
                }

                if (killed is null)
                {
                    failures.Add($"kill {kill} ({method}): the run kept finishing before the kill");
                    return;
                }

                var loadedStep = LatestCheckpointStep(directory, method);
                if (killed.SavedStep > 0 && loadedStep < killed.SavedStep)
                {
                    failures.Add($"kill {kill} ({method}): the run reported a checkpoint at step {killed.SavedStep} but step {loadedStep} loads");
                    return;
                }

                var (code, stdout, stderr) = Cli.PeftWith(OneThread, TrainArguments(method, directory, resume: loadedStep > 0));
                if (code != 0)
                {
                    failures.Add($"kill {kill} ({method}): the resumed run failed: {stderr}");
                    return;
                }

                var outcome = OutcomeOf(directory, stdout);
                var reference = references[method];
                if (outcome.Metrics != reference.Metrics || outcome.Ranks != reference.Ranks || !outcome.BestAdapter.AsSpan().SequenceEqual(reference.BestAdapter) || outcome.TestLine != reference.TestLine)
                {
                    failures.Add($"kill {kill} ({method}, {killed.Moment}, checkpoint step {loadedStep}): the resumed run differs from the uninterrupted one");
                    return;
                }

                report.Add($"kill {kill,2} {method,-9} {killed.Moment,-44}: checkpoint step {loadedStep,2}{(killed.MidSave ? " (killed mid-save)" : "")}, resumed to the same result");
            }
            finally
            {
                Reset(directory);
            }
        });

        foreach (var line in report.OrderBy(l => l, StringComparer.Ordinal))
        {
            output.WriteLine(line);
        }

        Assert.True(failures.IsEmpty, string.Join("\n", failures));
        Assert.Equal(Kills, report.Count);
        Assert.True(report.Count(line => !line.Contains("checkpoint step  0", StringComparison.Ordinal)) >= Kills / 2, "most kills must land after a checkpoint:\n" + string.Join("\n", report));
    }

    private static void Reset(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// When to kill: during start-up (a random delay after the process starts), or after the run's
    /// <see cref="Save"/>-th checkpoint (0: its parameter report, i.e. the start of training) plus a
    /// random share of the time the previous interval took, so the kill lands anywhere in the next
    /// steps, evaluation, save, or the final test and report, whatever the machine's speed.
    /// </summary>
    private sealed record KillMoment(bool DuringStartup, int Save, double Share)
    {
        private const int Saves = 8;

        public static KillMoment Draw(Random random, int kill) =>
            kill % 5 == 0 ? new(true, 0, random.NextDouble()) : new(false, random.Next(0, Saves + 1), random.NextDouble() * 1.5);

        public override string ToString() => DuringStartup
            ? $"{Share * 1500:F0} ms into start-up"
            : $"{Share:F2} of an interval after {(Save == 0 ? "training began" : $"checkpoint {Save}")}";
    }

    /// <summary>How a killed run ended.</summary>
    private sealed record Killed(KillMoment Moment, int SavedStep, bool MidSave);

    /// <summary>Starts <c>peft</c> and sends it SIGKILL at <paramref name="moment"/>; null when it finished first.</summary>
    private static Killed? RunAndKill(string[] arguments, KillMoment moment)
    {
        const string savedPrefix = "checkpoint saved at step ";
        var saved = 0;
        var events = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        using var reached = new ManualResetEventSlim(false);
        using var process = new Process { StartInfo = Cli.StartInfo(OneThread, arguments) };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            var isEvent = line.StartsWith("trainable params", StringComparison.Ordinal);
            if (line.StartsWith(savedPrefix, StringComparison.Ordinal))
            {
                Volatile.Write(ref saved, int.Parse(line[savedPrefix.Length..], System.Globalization.CultureInfo.InvariantCulture));
                isEvent = true;
            }

            if (isEvent)
            {
                lock (events)
                {
                    events.Add(clock.Elapsed);
                    if (!moment.DuringStartup && events.Count == moment.Save + 1)
                    {
                        reached.Set();
                    }
                }
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        TimeSpan delay;
        if (moment.DuringStartup)
        {
            delay = TimeSpan.FromMilliseconds(moment.Share * 1500);
        }
        else
        {
            while (!reached.Wait(10) && !process.HasExited)
            {
            }

            lock (events)
            {
                var count = events.Count;
                var interval = count >= 2 ? events[count - 1] - events[count - 2] : TimeSpan.FromMilliseconds(300);
                delay = interval * moment.Share;
            }
        }

        if (process.WaitForExit(delay))
        {
            return null;
        }

        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        var checkpoint = Path.Combine(Path.GetFullPath(arguments[Array.IndexOf(arguments, "--output") + 1]), "checkpoint");
        var midSave = Directory.Exists(checkpoint + ".tmp") || Directory.Exists(checkpoint + ".old");
        return new Killed(moment, Volatile.Read(ref saved), midSave);
    }

    /// <summary>The step of the checkpoint a resume would load (0: none), loading it into a fresh model to prove it is whole.</summary>
    private int LatestCheckpointStep(string runDirectory, string method)
    {
        var copy = Path.Combine(_temp.FullName, $"inspect-{Guid.NewGuid():N}");
        CopyDirectory(runDirectory, copy);
        try
        {
            var checkpoint = Path.Combine(copy, "checkpoint");
            if (!AtomicDirectory.Recover(checkpoint))
            {
                return 0;
            }

            var state = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json")))!;
            var model = method == CausalLm
                ? PretrainedModel.FromPretrained(Decoder)
                : PretrainedModel.ForSequenceClassification(Base, PeftSharp.Training.ClassificationDataset.Load(Path.Combine(Task, "train.jsonl")).Labels, out _);
            var peft = PeftModel.FromPretrained(model, checkpoint);
            Assert.Equal(AdapterMethodRegistry.Find(method == CausalLm ? "lora" : method)!.PeftType, peft.GetConfig(peft.ActiveAdapter).PeftType);
            return state["step"]!.GetValue<int>();
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        if (!Directory.Exists(source))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
    }
}
