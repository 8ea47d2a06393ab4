using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PeftSharp.Runtime;

/// <summary>
/// The address of a CPU tensor's first element, for the decoding kernels that read and write tensor memory
/// directly. Callers check that the tensor is on the CPU and laid out as they expect before they use it.
/// </summary>
internal static unsafe class TensorData
{
    /// <summary>True when the native entry point resolves and reports a tensor's data where TorchSharp's own accessor does.</summary>
    public static bool Available { get; } = Probe();

    /// <summary>The address of <paramref name="tensor"/>'s first element (its storage offset applied).</summary>
    public static void* Of(Tensor tensor) => (void*)THSTensor_data(tensor.Handle);

    private static bool Probe()
    {
        try
        {
            using var probe = tensor(new[] { 1.5f, -2.25f });
            var data = (float*)Of(probe);
            return data is not null && data[0] == 1.5f && data[1] == -2.25f;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);
}
