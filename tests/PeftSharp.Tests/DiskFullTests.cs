using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Training;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// <c>peft train</c> writing into a tmpfs too small for a second checkpoint: the save fails with a
/// one-line error naming the disk-full condition, and the previous checkpoint is intact and resumable.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-full-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public void ASaveOnAFullDiskReportsTheErrorAndKeepsThePreviousCheckpoint()
    {
        var root = BundledDemoTests.Repository();
        var task = Cli.WriteTask(Path.Combine(_temp.FullName, "task"), ("train", 32), ("validation", 8));

        string[] Arguments(string output, int steps = 6) => ["train", "--base", Path.Combine(root, "models", "base"), "--data", task, "--method", "lora", "--steps", $"{steps}", "--eval-every", "100", "--save-every", "2", "--batch-size", "4", "--max-length", "16", "--output", output];

        // The size of one run folder with one checkpoint, measured on the normal disk.
        var probe = Path.Combine(_temp.FullName, "probe");
        var (code, output, error) = Cli.Peft(Arguments(probe, steps: 2));
        Assert.True(code == 0, output + error);
        var checkpointBytes = Directory.EnumerateFiles(Path.Combine(probe, "checkpoint")).Sum(f => new FileInfo(f).Length);

        // Room for the run folder with one checkpoint, not for the staging copy of the second.
        var mount = Path.Combine(_temp.FullName, "small");
        var copy = Path.Combine(_temp.FullName, "after");
        Directory.CreateDirectory(mount);
        Directory.CreateDirectory(copy);
        var size = checkpointBytes * 3 / 2 + 64 * 1024;
        var script = string.Join('\n',
            "set -u",
            $"mount -t tmpfs -o size={size} tmpfs '{mount}' || exit 97",
            $"dotnet '{Path.Combine(AppContext.BaseDirectory, "peft.dll")}' {string.Join(' ', Arguments(Path.Combine(mount, "run")).Select(a => $"'{a}'"))} > '{copy}/stdout' 2> '{copy}/stderr'",
            $"echo $? > '{copy}/code'",
            $"df -B1 '{mount}' > '{copy}/df'",
            $"cp -a '{mount}/run' '{copy}/run'",
            $"umount '{mount}'");
        var scriptPath = Path.Combine(_temp.FullName, "full.sh");
        File.WriteAllText(scriptPath, script);

        // As root the tmpfs is mounted directly; otherwise in a user namespace of our own.
        var ran = Shell("sh", scriptPath);
        if (ran == 97)
        {
            ran = Shell("unshare", "--user", "--map-root-user", "--mount", "sh", scriptPath);
        }

        Assert.True(ran == 0, $"could not mount a {size}-byte tmpfs (needs root or unprivileged user namespaces); exit {ran}");
        var exit = int.Parse(File.ReadAllText(Path.Combine(copy, "code")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var stderr = File.ReadAllText(Path.Combine(copy, "stderr"));
        var stdout = File.ReadAllText(Path.Combine(copy, "stdout"));
        Assert.True(exit == 1, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.Contains("No space left on device", stderr);
        Assert.Contains("the previous checkpoint (step 2)", stderr);
        Assert.Contains("is intact", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("checkpoint saved at step 2", stdout);

        var run = Path.Combine(copy, "run");
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoint.tmp")), "the failed staging copy must be removed");
        var checkpoint = Path.Combine(run, "checkpoint");
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json")))!["step"]!.GetValue<int>());
        var train = ClassificationDataset.Load(Path.Combine(task, "train.jsonl"));
        var model = PretrainedModel.ForSequenceClassification(Path.Combine(root, "models", "base"), train.Labels, out _);
        var peft = PeftModel.FromPretrained(model, checkpoint);
        Assert.NotEmpty(peft.AdaptedModules);

        // With room again, the run resumes from that checkpoint and finishes.
        (code, output, error) = Cli.Peft([.. Arguments(run), "--resume"]);
        Assert.True(code == 0, output + error);
        Assert.Contains("resumed at step 2", output);
    }

    private static int Shell(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(info)!;
            process.StandardOutput.ReadToEnd();
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 127;
        }
    }
}
