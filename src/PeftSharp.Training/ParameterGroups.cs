using PeftSharp.Adapters;
using TorchSharp.Modules;

namespace PeftSharp.Training;

/// <summary>Builds the optimizer's parameter groups of an adapter run.</summary>
public static class ParameterGroups
{
    /// <summary>
    /// One group per name the active adapter's paths give their parameters (<c>ParameterGroupOf</c>)
    /// and a <c>head</c> group for everything else trainable (<c>modules_to_save</c> copies, trained
    /// biases), adapter groups first in name order, the head last. Parameters the method's controller
    /// updates itself (<see cref="TrainingController.OwnedParameters"/>) are left out. Rates and decays
    /// come from <paramref name="options"/>: <see cref="TrainerOptions.GroupLearningRates"/> /
    /// <see cref="TrainerOptions.GroupWeightDecays"/> by name, else the adapter or head defaults.
    /// </summary>
    public static IReadOnlyList<ParameterGroup> ForAdapter(PeftModel peft, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(peft);
        ArgumentNullException.ThrowIfNull(options);
        var groupOf = new Dictionary<IntPtr, string>();
        foreach (var module in peft.ModulesOf(peft.ActiveAdapter))
        {
            var path = module.Layer.GetPath(peft.ActiveAdapter);
            foreach (var parameter in path.parameters())
            {
                groupOf[parameter.Handle] = path.ParameterGroupOf(parameter);
            }
        }

        var owned = new HashSet<IntPtr>((peft.GetController()?.OwnedParameters ?? []).Select(p => p.Handle));
        return peft.GetTrainableParameters()
            .Where(p => !owned.Contains(p.Handle))
            .GroupBy(p => groupOf.GetValueOrDefault(p.Handle, "head"))
            .OrderBy(g => g.Key == "head" ? 1 : 0)
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new ParameterGroup(g.Key, g.ToList(), LearningRateOf(g.Key, options), WeightDecayOf(g.Key, options)))
            .ToList();
    }

    private static double LearningRateOf(string group, TrainerOptions options) =>
        options.GroupLearningRates?.TryGetValue(group, out var rate) == true ? rate
        : group == "head" ? options.HeadLearningRate ?? options.LearningRate
        : options.LearningRate;

    private static double WeightDecayOf(string group, TrainerOptions options) =>
        options.GroupWeightDecays?.TryGetValue(group, out var decay) == true ? decay
        : group == "head" ? 0.0
        : options.WeightDecay;
}
