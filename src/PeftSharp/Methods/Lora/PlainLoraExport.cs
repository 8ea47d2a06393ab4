using System.Text.RegularExpressions;
using PeftSharp.Adapters;

namespace PeftSharp.Methods.Lora;

/// <summary>Exports any adapter as a plain PEFT LoRA, the format every PEFT install reads.</summary>
public static class PlainLoraExport
{
    /// <summary>
    /// Writes <paramref name="adapterName"/> as a plain PEFT LoRA adapter that stock PEFT loads,
    /// whatever its method: each path's <see cref="LowRankPath.ToPlainLora()"/> gives the compact
    /// factors (live components only) and its effective scaling. <c>target_modules</c> lists the
    /// adapted modules by full name (modules left with rank 0 are omitted), <c>r</c> and
    /// <c>lora_alpha</c> are the most common pair, and <c>rank_pattern</c>/<c>alpha_pattern</c> hold
    /// the modules that differ, with <c>alpha = scaling · r</c> so PEFT's <c>alpha / r</c> reproduces
    /// the trained scaling exactly.
    /// </summary>
    /// <returns>The exported configuration.</returns>
    /// <param name="peft">The adapted model.</param>
    /// <param name="directory">Target directory.</param>
    /// <param name="adapterName">The adapter (default: the active one).</param>
    /// <param name="maxRanks">
    /// Optional cap per module (module name → rank; see <see cref="RankBudget"/>): each path keeps its
    /// most important components (<see cref="LowRankPath.ToPlainLora(int)"/>); unlisted modules keep all.
    /// </param>
    public static LoraConfig ExportPlainLora(this PeftModel peft, string directory, string? adapterName = null, IReadOnlyDictionary<string, int>? maxRanks = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        var source = peft.GetConfig(name);
        var modules = peft.ModulesOf(name);
        var factors = modules.Select(m => (m.Name, m.Layer, Factors: maxRanks is not null && maxRanks.TryGetValue(m.Name, out var cap)
            ? m.Layer.GetPath(name).ToPlainLora(cap)
            : m.Layer.GetPath(name).ToPlainLora())).ToList();
        try
        {
            var live = factors.Where(f => f.Factors.Rank > 0).ToList();
            if (live.Count == 0)
            {
                throw new AllRanksPrunedException($"adapter '{name}' has rank 0 in every module (all ranks were pruned or cut): it adds nothing to the base model, so there is no LoRA to export");
            }

            var pairs = live.Select(f => (f.Name, Rank: f.Factors.Rank, Alpha: f.Factors.Scaling * f.Factors.Rank)).ToList();
            var common = pairs.GroupBy(p => (p.Rank, p.Alpha)).OrderByDescending(g => g.Count()).First().Key;
            var config = new LoraConfig
            {
                R = common.Rank,
                LoraAlpha = common.Alpha,
                TargetModules = TargetModules.FromNames([.. live.Select(f => f.Name)]),
                ModulesToSave = source.ModulesToSave,
                Bias = source.Bias,
                TaskType = source.TaskType,
                BaseModelNameOrPath = source.BaseModelNameOrPath,
                Revision = source.Revision,
                FanInFanOut = live.Any(f => f.Layer.Target.FanInFanOut),
            };
            foreach (var pair in pairs)
            {
                var key = Regex.Escape(pair.Name);
                if (pair.Rank != common.Rank)
                {
                    config.RankPattern[key] = pair.Rank;
                }

                if (pair.Alpha != common.Alpha)
                {
                    config.AlphaPattern[key] = pair.Alpha;
                }
            }

            // Everything but the method's own path and shared tensors (modules_to_save copies, trained biases) is kept as it is.
            var shared = modules.SelectMany(m => m.Layer.GetPath(name).SharedTensors()).Select(kv => PeftModel.TunerPrefix + kv.Key).ToHashSet(StringComparer.Ordinal);
            var tensors = peft.AdapterStateDict(name)
                .Where(kv => !shared.Contains(kv.Key) && !modules.Any(m => kv.Key.StartsWith($"{PeftModel.KeyPrefix}{m.Name}.", StringComparison.Ordinal) && !kv.Key.EndsWith(".base_layer.bias", StringComparison.Ordinal)))
                .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            foreach (var f in live)
            {
                tensors[$"{PeftModel.KeyPrefix}{f.Name}.lora_A.weight"] = f.Factors.A;
                tensors[$"{PeftModel.KeyPrefix}{f.Name}.lora_B.weight"] = f.Factors.B;
            }

            Directory.CreateDirectory(directory);
            SafetensorsWriter.Save(Path.Combine(directory, PeftModel.WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            AdapterConfigFile.Write(Path.Combine(directory, AdapterConfigFile.FileName), config, peft.Model.GetType().Name);
            return config;
        }
        finally
        {
            foreach (var f in factors)
            {
                f.Factors.A.Dispose();
                f.Factors.B.Dispose();
            }
        }
    }
}
