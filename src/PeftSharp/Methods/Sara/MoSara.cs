using PeftSharp.Adapters;

namespace PeftSharp.Methods.Sara;

/// <summary>Mo-SARA operations on a whole model.</summary>
public static class MoSara
{
    /// <summary>
    /// Runs <paramref name="runData"/> (which should run the model over a representative dataset) while
    /// every Mo-SARA path of <paramref name="adapterName"/> averages its routing weights, then fixes
    /// them: afterwards the adapter can be merged or exported as plain LoRA, <b>approximately</b>
    /// (each token's own mixture is replaced by the dataset average). Returns the tokens seen.
    /// </summary>
    public static long CalibrateRouting(PeftModel peft, Action runData, string? adapterName = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        var paths = peft.ModulesOf(name).Select(m => m.Layer.GetPath(name)).OfType<MoSaraPath>().ToList();
        if (paths.Count == 0)
        {
            throw new InvalidOperationException($"adapter '{name}' has no Mo-SARA modules");
        }

        foreach (var path in paths)
        {
            path.BeginRoutingCalibration();
        }

        runData();
        return paths.Select(p => p.EndRoutingCalibration()).Min();
    }
}
