using System.Runtime.InteropServices;

namespace PeftSharp.Runtime;

/// <summary>
/// Tunes the C heap that libtorch allocates tensors from. With glibc's defaults every tensor above
/// the dynamic mmap threshold is a fresh <c>mmap</c> whose pages fault in on first touch and are
/// unmapped on dispose; at transformer activation sizes (megabytes) this page-fault traffic costs
/// more than the matmuls of a LoRA path. <see cref="KeepFreedMemory"/> raises the mmap and trim
/// thresholds so freed tensor memory is reused; memory stays at its high-water mark instead of
/// being returned to the system (training memory is flat anyway).
/// </summary>
public static class NativeHeap
{
    private const int MallocTrimThreshold = -1;
    private const int MallocMmapThreshold = -3;

    /// <summary>The largest mmap threshold glibc accepts on 64-bit systems (32 MiB).</summary>
    public const int MaxMmapThreshold = 32 * 1024 * 1024;

    private static bool _applied;

    /// <summary>
    /// Applies the tuning once per process (glibc on Linux only; elsewhere a no-op). Returns true
    /// when glibc accepted both settings. The <c>peft</c> command and the trainer call it at start.
    /// </summary>
    public static bool KeepFreedMemory()
    {
        if (_applied)
        {
            return true;
        }

        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            _applied = mallopt(MallocMmapThreshold, MaxMmapThreshold) == 1 &&
                       mallopt(MallocTrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _applied = false;
        }

        return _applied;
    }

    /// <summary>
    /// Returns the heap's free pages to the system (glibc's <c>malloc_trim(0)</c>; elsewhere a no-op).
    /// With <see cref="KeepFreedMemory"/> the heap keeps every freed tensor's memory for reuse, and over a
    /// long run a sequence of differently sized activations can leave free holes the next sizes do not
    /// fit, so the resident set creeps up by fragmentation. A long-running loop calls this now and then
    /// between steps (the trainer every <c>1024</c> steps and after each evaluation); the next step's
    /// tensors fault their pages in again once. Returns true when memory was released.
    /// </summary>
    public static bool ReleaseFreeMemory()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return malloc_trim(0) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
