using System.Diagnostics;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class AtomicSaveTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-kill-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>Starts <c>peft selftest save-loop</c> on <paramref name="path"/> and waits until it has saved at least once.</summary>
    private static Process StartSaver(string path, int megabytes)
    {
        var process = Process.Start(Cli.StartInfo(null, ["selftest", "save-loop", "--path", path, "--megabytes", megabytes.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        var errors = process.StandardError.ReadToEndAsync();
        var first = process.StandardOutput.ReadLineAsync();
        if (!first.Wait(TimeSpan.FromSeconds(60)) || first.Result is not { } line || !line.StartsWith("saved", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"the saver did not start: {errors.Result}");
        }

        _ = process.StandardOutput.ReadToEndAsync();
        return process;
    }

    [Fact]
    public void KillingAProcessMidSaveAlwaysLeavesACompleteCheckpoint()
    {
        var path = Path.Combine(_temp.FullName, "checkpoint.safetensors");
        var random = new Random(7);
        long previous = 0;
        for (var trial = 0; trial < 12; trial++)
        {
            using var process = StartSaver(path, megabytes: 24);
            Thread.Sleep(random.Next(0, 250));
            process.Kill(entireProcessTree: true);
            process.WaitForExit();

            using var file = SafetensorsFile.Open(path);
            using var iteration = file.Read("iteration");
            using var payload = file.Read("payload");
            var k = iteration.item<long>();
            Assert.True(k >= 1, $"trial {trial}: iteration {k}");
            Assert.Equal(24L * (1 << 20) / sizeof(float), payload.numel());
            Assert.True(payload.eq(k).all().item<bool>(), $"trial {trial}: payload of save {k} is not all {k} — a torn write");
            previous = k;
        }

        Assert.True(previous >= 1);
    }

    /// <summary>A directory holding one file <c>step</c> with <paramref name="step"/>, optionally marked complete as <see cref="AtomicDirectory"/> marks staging copies.</summary>
    private static void WriteStep(string directory, int step, bool complete = false)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "step"), $"{step}");
        if (complete)
        {
            File.WriteAllBytes(Path.Combine(directory, ".complete"), []);
        }
    }

    private static int StepIn(string directory) => int.Parse(File.ReadAllText(Path.Combine(directory, "step")), System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("killed while writing the new copy", 1, "partial", false, 1)]
    [InlineData("killed after marking the new copy complete", 1, "complete", false, 2)]
    [InlineData("killed between the two renames", 0, "complete", true, 2)]
    [InlineData("killed before (or while) deleting the previous copy", 2, "none", true, 2)]
    [InlineData("killed during the very first save", 0, "partial", false, 0)]
    public void RecoverFindsTheNewestCompleteDirectoryAfterACrashAtAnyStep(string when, int finalStep, string staging, bool oldExists, int expected)
    {
        var final = Path.Combine(_temp.FullName, "checkpoint");
        if (finalStep > 0)
        {
            WriteStep(final, finalStep);
        }

        if (staging != "none")
        {
            WriteStep(final + ".tmp", 2, complete: staging == "complete");
        }

        if (oldExists)
        {
            WriteStep(final + ".old", 1);
        }

        Assert.Equal(expected > 0, AtomicDirectory.Recover(final));
        if (expected > 0)
        {
            Assert.True(expected == StepIn(final), when);
        }

        Assert.False(Directory.Exists(final + ".tmp"), when);
        Assert.False(Directory.Exists(final + ".old"), when);
    }

    [Fact]
    public void AFailedReplacementLeavesThePreviousDirectoryAndNoStagingCopy()
    {
        var final = Path.Combine(_temp.FullName, "best");
        AtomicDirectory.Replace(final, staging => WriteStep(staging, 1));
        Assert.Throws<IOException>(() => AtomicDirectory.Replace(final, staging =>
        {
            WriteStep(staging, 2);
            throw new IOException("No space left on device");
        }));
        Assert.Equal(1, StepIn(final));
        Assert.False(Directory.Exists(final + ".tmp"));
        Assert.False(File.Exists(Path.Combine(final, ".complete")), "the marker is removed once the copy is in place");
        AtomicDirectory.Replace(final, staging => WriteStep(staging, 3));
        Assert.Equal(3, StepIn(final));
    }
}
