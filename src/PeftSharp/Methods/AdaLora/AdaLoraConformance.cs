using PeftSharp.Conformance;
using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>AdaLoRA conformance (<c>adalora/forward</c>): the SVD-form path against the official loralib implementation.</summary>
internal sealed class AdaLoraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind == "forward";

    public void Run(ConformanceCheck check)
    {
        var alpha = check.Case.ConfigDouble("lora_alpha");
        foreach (var module in check.Case.Modules)
        {
            var prefix = module.Name + "/";
            var rankNum = check.Has(prefix + "ranknum") ? (int)check.Input(prefix + "ranknum").item<float>() : module.R;
            using var layer = ConformanceLayers.Wrap(check, module);
            var path = new AdaLoraPath(module.InFeatures, module.OutFeatures, module.R, rankNum, alpha);
            using (no_grad())
            {
                path.A.copy_(check.Input(prefix + "lora_A"));
                path.E.copy_(check.Input(prefix + "lora_E"));
                path.B.copy_(check.Input(prefix + "lora_B"));
            }

            ConformanceLayers.CheckForwardAndMerge(check, module, layer, path);
        }
    }
}
