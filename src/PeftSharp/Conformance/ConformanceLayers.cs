using PeftSharp.Adapters;
using PeftSharp.Layers;
using static TorchSharp.torch;

namespace PeftSharp.Conformance;

/// <summary>Builds the frozen base layers conformance cases describe.</summary>
public static class ConformanceLayers
{
    /// <summary>
    /// An <see cref="AdapterLayer"/> around a Linear (or a Conv1D when <paramref name="fanInFanOut"/>)
    /// holding the case's <c>&lt;module&gt;/weight</c> and optional <c>&lt;module&gt;/bias</c>.
    /// </summary>
    public static AdapterLayer Wrap(ConformanceCheck check, ConformanceModule module, bool fanInFanOut = false)
    {
        var prefix = module.Name + "/";
        var hasBias = check.Has(prefix + "bias");
        nn.Module<Tensor, Tensor> layer = fanInFanOut
            ? new Conv1D(module.InFeatures, module.OutFeatures, hasBias)
            : nn.Linear(module.InFeatures, module.OutFeatures, hasBias);
        using (no_grad())
        {
            var state = layer.state_dict();
            state["weight"].copy_(check.Input(prefix + "weight"));
            if (hasBias)
            {
                state["bias"].copy_(check.Input(prefix + "bias"));
            }
        }

        return new AdapterLayer(layer);
    }

    /// <summary>
    /// Adds <paramref name="path"/> to <paramref name="layer"/>, then checks the eval-mode output
    /// against <c>expect/y</c> and, when the case has it, the merged weight and the merged output.
    /// </summary>
    public static void CheckForwardAndMerge(ConformanceCheck check, ConformanceModule module, AdapterLayer layer, LowRankPath path)
    {
        var expectY = check.Case.Modules.Count == 1 ? "expect/y" : $"expect/{module.Name}/y";
        layer.AddPath("default", path);
        layer.SetActiveAdapters(["default"]);
        layer.eval();
        using var noGrad = no_grad();
        using (var y = layer.forward(check.Input("x")))
        {
            check.Tensor(expectY, y);
        }

        if (check.Has($"expect/{module.Name}/merged_weight"))
        {
            layer.Merge();
            check.Tensor($"expect/{module.Name}/merged_weight", layer.Target.Weight);
            using var merged = layer.forward(check.Input("x"));
            check.Tensor(expectY, merged);
        }
    }

    /// <summary>
    /// The trajectory cases' model: one float64 Linear per module from <c>init/&lt;module&gt;/weight</c> and
    /// <c>bias</c>, each wrapped with the path <paramref name="createPath"/> builds (as the active
    /// <c>default</c> adapter). Run it with <see cref="ForwardChain"/>.
    /// </summary>
    public static List<AdapterLayer> Float64Chain(ConformanceCheck check, Func<ConformanceModule, LowRankPath> createPath)
    {
        var layers = new List<AdapterLayer>();
        foreach (var module in check.Case.Modules)
        {
            var linear = nn.Linear(module.InFeatures, module.OutFeatures, hasBias: true, dtype: ScalarType.Float64);
            using (no_grad())
            {
                linear.weight!.copy_(check.Input($"init/{module.Name}/weight"));
                linear.bias!.copy_(check.Input($"init/{module.Name}/bias"));
            }

            var layer = new AdapterLayer(linear);
            layer.AddPath("default", createPath(module));
            layer.SetActiveAdapters(["default"]);
            layers.Add(layer);
        }

        return layers;
    }

    /// <summary>x → layer 0 → tanh → … → last layer (no activation after the last).</summary>
    public static Tensor ForwardChain(IReadOnlyList<AdapterLayer> layers, Tensor x)
    {
        var h = x;
        for (var i = 0; i < layers.Count; i++)
        {
            h = layers[i].forward(h);
            if (i < layers.Count - 1)
            {
                h = h.tanh();
            }
        }

        return h;
    }
}
