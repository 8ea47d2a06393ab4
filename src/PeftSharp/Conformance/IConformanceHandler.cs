using static TorchSharp.torch;

namespace PeftSharp.Conformance;

/// <summary>Runs a method's conformance cases. Each method folder provides one.</summary>
public interface IConformanceHandler
{
    /// <summary>True when this handler implements cases of <paramref name="kind"/>.</summary>
    bool Supports(string kind);

    /// <summary>Runs <paramref name="check"/>'s case, recording every comparison in it.</summary>
    void Run(ConformanceCheck check);
}
