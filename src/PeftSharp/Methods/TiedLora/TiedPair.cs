using TorchSharp.Modules;

namespace PeftSharp.Methods.TiedLora;

/// <summary>
/// One tied pair: the single <c>A (r, in)</c> and <c>B (out, r)</c> tensors every path of a group
/// (a target type and shape, or all modules for VeRA) refers to. Autograd sums the gradients of all
/// layers into them; the optimizer sees each once.
/// </summary>
public sealed class TiedPair
{
    /// <summary>Creates a pair under the model-level key <paramref name="key"/>.</summary>
    public TiedPair(string key, Parameter a, Parameter b)
    {
        Key = key;
        A = a;
        B = b;
    }

    /// <summary>The checkpoint key prefix (relative to <c>base_model.</c>).</summary>
    public string Key { get; }

    /// <summary>The shared down projection.</summary>
    public Parameter A { get; }

    /// <summary>The shared up projection.</summary>
    public Parameter B { get; }
}
