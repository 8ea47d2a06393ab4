using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>The process's live tensor count once garbage from earlier tests has been finalized.</summary>
internal static class LiveTensorCount
{
    /// <summary>
    /// Collects until a collection finalizes nothing more: finalizing one object (a module) can make others
    /// collectable (its tensors), so one collection may leave finalizers to run while a test counts.
    /// </summary>
    public static long Settled()
    {
        var count = -1L;
        for (var i = 0; i < 10 && count != Tensor.TotalCount; i++)
        {
            count = Tensor.TotalCount;
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return Tensor.TotalCount;
    }
}
