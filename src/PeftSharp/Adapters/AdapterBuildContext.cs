using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>What a method may use while it builds the paths of one adapter.</summary>
public sealed class AdapterBuildContext
{
    /// <summary>Creates the context for adapter <paramref name="adapterName"/>.</summary>
    public AdapterBuildContext(string adapterName, Generator? generator = null, IReadOnlyList<KeyValuePair<string, LinearTarget>>? targets = null)
    {
        AdapterName = adapterName;
        Generator = generator;
        Targets = targets ?? [];
    }

    /// <summary>Every module this adapter will adapt (name → target), known before the first path is built (VeRA sizes its shared projections from it).</summary>
    public IReadOnlyList<KeyValuePair<string, LinearTarget>> Targets { get; }

    /// <summary>The adapter being built.</summary>
    public string AdapterName { get; }

    /// <summary>Random generator for initialisation; null uses the global generator (<c>torch.manual_seed</c>).</summary>
    public Generator? Generator { get; }

    /// <summary>State a method shares between the paths of one adapter (for example tied tensors), keyed by the method.</summary>
    public IDictionary<string, object> Shared { get; } = new Dictionary<string, object>(StringComparer.Ordinal);
}
