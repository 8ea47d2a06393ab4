using PeftSharp.Adapters;

namespace PeftSharp.Methods.DyLora;

/// <summary>DyLoRA operations on a whole model.</summary>
public static class DyLora
{
    /// <summary>
    /// Sets the rank of every DyLoRA path of <paramref name="adapterName"/> (default: the active adapter),
    /// or of the modules in <paramref name="perModule"/> only. Refused while the adapter is merged.
    /// </summary>
    public static void SetRank(PeftModel peft, int rank, string? adapterName = null, IReadOnlyDictionary<string, int>? perModule = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        foreach (var module in peft.ModulesOf(name))
        {
            if (module.Layer.GetPath(name) is not DyLoraPath path)
            {
                continue;
            }

            if (module.Layer.MergedAdapters.Contains(name))
            {
                throw new InvalidOperationException($"adapter '{name}' is merged into '{module.Name}'; unmerge it before changing its rank");
            }

            path.SetRank(perModule is not null && perModule.TryGetValue(module.Name, out var r) ? r : rank);
        }
    }
}
