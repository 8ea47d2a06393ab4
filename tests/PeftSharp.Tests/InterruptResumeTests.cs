using System.Diagnostics;
using System.Runtime.InteropServices;
using PeftSharp.Adapters;
using PeftSharp.Models;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// Ctrl-C during <c>peft train</c>: SIGINT after the first checkpoint stops the run at a step
/// boundary with exit code 130 and one line naming the checkpoint and <c>--resume</c>; the checkpoint
/// loads, and <c>--resume</c> ends with exactly the files of an uninterrupted run.
/// </summary>
public sealed class InterruptResumeTests : IDisposable
{
    private const int SigInt = 2;
    private static readonly Dictionary<string, string> OneThread = new() { ["OMP_NUM_THREADS"] = "1" };
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-interrupt-");

    public void Dispose() => _temp.Delete(recursive: true);

    private static string Base => Path.Combine(BundledDemoTests.Repository(), "models", "base");

    private string Task => Path.Combine(_temp.FullName, "task");

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private string[] TrainArguments(string method, string runDirectory, bool resume)
    {
        string[] arguments = ["train", "--base", Base, "--data", Task, "--method", method, "--steps", "160", "--eval-every", "40", "--save-every", "2", "--batch-size", "4", "--max-length", "24", "--output", runDirectory];
        return resume ? [.. arguments, "--resume"] : arguments;
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("adalora")]
    public void CtrlCSavesACheckpointAndResumeEndsLikeAnUninterruptedRun(string method)
    {
        Cli.WriteTask(Task, ("train", 48), ("validation", 16), ("test", 16));
        var reference = Path.Combine(_temp.FullName, "reference");
        var (code, referenceOutput, error) = Cli.PeftWith(OneThread, TrainArguments(method, reference, resume: false));
        Assert.True(code == 0, referenceOutput + error);

        var run = Path.Combine(_temp.FullName, "interrupted");
        var (exit, output) = RunAndInterrupt(TrainArguments(method, run, resume: false));
        Assert.True(exit == 130, $"exit code {exit}\n{output}");
        var line = Assert.Single(output.Split('\n'), l => l.StartsWith("interrupted after step ", StringComparison.Ordinal));
        var checkpoint = Path.Combine(run, "checkpoint");
        Assert.Contains($"checkpoint saved in {checkpoint};", line);
        Assert.Contains("--resume", line);
        Assert.DoesNotContain("test:", output);

        // The checkpoint is whole: its step is the interrupted one, before the end, and the adapter loads.
        var step = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json")))!["step"]!.GetValue<int>();
        Assert.StartsWith($"interrupted after step {step}:", line);
        // The signal lands some steps after the first save on a loaded machine; 160 steps leave room for that.
        Assert.InRange(step, 2, 159);
        var labels = PeftSharp.Training.ClassificationDataset.Load(Path.Combine(Task, "train.jsonl")).Labels;
        var peft = PeftModel.FromPretrained(PretrainedModel.ForSequenceClassification(Base, labels, out _), checkpoint);
        Assert.Equal(AdapterMethodRegistry.Find(method)!.PeftType, peft.GetConfig(peft.ActiveAdapter).PeftType);

        var (resumedCode, resumedOutput, resumedError) = Cli.PeftWith(OneThread, TrainArguments(method, run, resume: true));
        Assert.True(resumedCode == 0, resumedOutput + resumedError);
        Assert.Contains($"resumed at step {step}", resumedOutput);
        Assert.Equal(File.ReadAllText(Path.Combine(reference, "metrics.jsonl")), File.ReadAllText(Path.Combine(run, "metrics.jsonl")));
        Assert.Equal(File.ReadAllText(Path.Combine(reference, "ranks.jsonl")), File.ReadAllText(Path.Combine(run, "ranks.jsonl")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "best", "adapter_model.safetensors")), File.ReadAllBytes(Path.Combine(run, "best", "adapter_model.safetensors")));
        Assert.Equal(TestLine(referenceOutput), TestLine(resumedOutput));
    }

    private static string TestLine(string stdout) => stdout.Split('\n').Single(l => l.StartsWith("test:", StringComparison.Ordinal));

    /// <summary>Starts <c>peft</c>, sends it SIGINT once it reports its first checkpoint, and returns its exit code and standard output.</summary>
    private static (int ExitCode, string Output) RunAndInterrupt(string[] arguments)
    {
        var output = new System.Text.StringBuilder();
        // A shell starts background jobs with SIGINT ignored, and a child inherits that (the .NET runtime then
        // never sees the signal); coreutils' env restores the default so the test holds however it is started.
        var start = Cli.StartInfo(OneThread, arguments);
        start.ArgumentList.Insert(0, start.FileName);
        start.ArgumentList.Insert(0, "--default-signal=INT");
        start.FileName = "env";
        using var process = new Process { StartInfo = start };
        var interrupted = 0;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }

            if (line.StartsWith("checkpoint saved at step ", StringComparison.Ordinal) && Interlocked.Exchange(ref interrupted, 1) == 0)
            {
                Assert.Equal(0, Kill(process.Id, SigInt));
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "peft train did not stop after SIGINT");
        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }
}
