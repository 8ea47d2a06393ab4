using PeftSharp.Adapters;
using PeftSharp.Conformance;
using PeftSharp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Lora;

/// <summary>
/// LoRA conformance (<c>lora/forward</c>): a base layer with the case's weight and bias, a LoRA path
/// with its A and B, run through <see cref="AdapterLayer"/>; the output and the merged weight are
/// compared with microsoft/LoRA's.
/// </summary>
internal sealed class LoraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind == "forward";

    public void Run(ConformanceCheck check)
    {
        var c = check.Case;
        var fanInFanOut = c.ConfigBool("fan_in_fan_out", false);
        var alpha = c.ConfigDouble("lora_alpha");
        foreach (var module in c.Modules)
        {
            var prefix = module.Name + "/";
            using var layer = new AdapterLayer(BaseLayer(check, prefix, module, fanInFanOut));
            var path = new LoraPath(module.InFeatures, module.OutFeatures, module.R, alpha);
            using (no_grad())
            {
                path.A.copy_(check.Input(prefix + "lora_A"));
                path.B.copy_(check.Input(prefix + "lora_B"));
            }

            layer.AddPath("default", path);
            layer.SetActiveAdapters(["default"]);
            layer.eval();
            using (no_grad())
            {
                var y = layer.forward(check.Input("x"));
                check.Tensor(c.Modules.Count == 1 ? "expect/y" : $"expect/{module.Name}/y", y);
                y.Dispose();
                if (check.Has($"expect/{module.Name}/merged_weight"))
                {
                    layer.Merge();
                    check.Tensor($"expect/{module.Name}/merged_weight", layer.Target.Weight);
                    var merged = layer.forward(check.Input("x"));
                    check.Tensor(c.Modules.Count == 1 ? "expect/y" : $"expect/{module.Name}/y", merged);
                    merged.Dispose();
                }
            }
        }
    }

    private static nn.Module<Tensor, Tensor> BaseLayer(ConformanceCheck check, string prefix, ConformanceModule module, bool fanInFanOut)
    {
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

        return layer;
    }
}
