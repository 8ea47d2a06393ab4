using System.Globalization;
using PeftSharp.Runtime;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The native heap's tuning: freed tensor memory is kept for reuse and handed back on request.</summary>
public sealed class NativeHeapTests
{
    private static double ResidentMegabytes()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    [Fact]
    public void ReleasingFreeMemoryReturnsTheFreedTensorsPagesToTheSystem()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.False(NativeHeap.ReleaseFreeMemory());
            return;
        }

        Assert.True(NativeHeap.KeepFreedMemory());
        // 512 MB in 2 MB tensors (below the 32 MB mmap threshold: heap memory), every page touched, then freed.
        var tensors = Enumerable.Range(0, 256).Select(_ => ones(512 * 1024)).ToList();
        Assert.Equal(256.0 * 512 * 1024, tensors.Sum(t => t.sum().item<float>()));
        foreach (var tensor in tensors)
        {
            tensor.Dispose();
        }

        var kept = ResidentMegabytes();
        Assert.True(NativeHeap.ReleaseFreeMemory());
        var released = ResidentMegabytes();
        Assert.True(kept - released >= 256, $"RSS {kept:F0} MB before and {released:F0} MB after releasing 512 MB of freed tensors");
    }
}
