using PeftSharp.Benchmarks;
using PeftSharp.Runtime;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The native heap's tuning: freed tensor memory is kept for reuse and handed back on request.</summary>
public sealed class NativeHeapTests
{
    [Fact]
    public void ReleasingFreeMemoryReturnsTheFreedTensorsPagesToTheSystem()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.False(NativeHeap.ReleaseFreeMemory());
            return;
        }

        Assert.True(NativeHeap.KeepFreedMemory());

        // 512 MB in 2 MB tensors (below the 32 MB mmap threshold: heap memory), every page touched. Every other
        // one is freed: the holes between live tensors stay in the heap's free lists (the fragmentation a long
        // run leaves), whichever arena this thread allocates from, and the release must hand their pages back.
        var tensors = Enumerable.Range(0, 256).Select(_ => ones(512 * 1024)).ToList();
        Assert.Equal(256.0 * 512 * 1024, tensors.Sum(t => t.sum().item<float>()));
        for (var i = 0; i < tensors.Count; i += 2)
        {
            tensors[i].Dispose();
        }

        var kept = MemoryBench.ResidentMegabytes();
        Assert.True(NativeHeap.ReleaseFreeMemory());
        var released = MemoryBench.ResidentMegabytes();
        foreach (var tensor in tensors.Where((_, i) => i % 2 == 1))
        {
            tensor.Dispose();
        }

        Assert.True(kept - released >= 128, $"RSS {kept:F0} MB before and {released:F0} MB after releasing 256 MB of freed tensors between live ones");
    }
}
