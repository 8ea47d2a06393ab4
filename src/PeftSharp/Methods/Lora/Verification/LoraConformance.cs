using PeftSharp.Conformance;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Lora.Verification;

/// <summary>
/// LoRA conformance (<c>lora/forward</c>): a base layer with the case's weight and bias, a LoRA path
/// with its A and B, run through <see cref="Adapters.AdapterLayer"/>; the output and the merged weight are
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
            using var layer = ConformanceLayers.Wrap(check, module, fanInFanOut);
            var path = new LoraPath(module.InFeatures, module.OutFeatures, module.R, alpha);
            using (no_grad())
            {
                path.A.copy_(check.Input(module.Name + "/lora_A"));
                path.B.copy_(check.Input(module.Name + "/lora_B"));
            }

            ConformanceLayers.CheckForwardAndMerge(check, module, layer, path);
        }
    }
}
