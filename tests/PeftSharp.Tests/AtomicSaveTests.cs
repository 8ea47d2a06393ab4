using System.Diagnostics;
using PeftSharp.IO;
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
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "peft.dll"), "selftest", "save-loop", "--path", path, "--megabytes", megabytes.ToString() })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
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
}
