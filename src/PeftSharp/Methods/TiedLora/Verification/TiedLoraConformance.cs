using PeftSharp.Adapters;
using PeftSharp.Conformance;
using static TorchSharp.torch;

namespace PeftSharp.Methods.TiedLora.Verification;

/// <summary>
/// Tied-LoRA conformance (<c>tied_lora/forward_grad</c>): each layer's output and merged weight, the
/// per-layer gradients of u and v, and the shared A and B gradients summed over layers, for the loss
/// Σ_l sum(y_l · dy_l).
/// </summary>
internal sealed class TiedLoraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind is "forward_grad";

    public void Run(ConformanceCheck check)
    {
        var c = check.Case;
        var pair = new TiedPair("tied_lora.shared", TorchSharp.torch.nn.Parameter(check.Input("shared/lora_A").clone()), TorchSharp.torch.nn.Parameter(check.Input("shared/lora_B").clone()));
        var flags = new TiedLoraFlags(true, true, true, true, true);
        var layers = new List<(AdapterLayer Layer, TiedLoraPath Path, ConformanceModule Module)>();
        foreach (var module in c.Modules)
        {
            var layer = ConformanceLayers.Wrap(check, module);
            var path = new TiedLoraPath(module.InFeatures, module.OutFeatures, pair, flags, c.ConfigDouble("scaling"), 1, 0);
            using (no_grad())
            {
                path.U.copy_(check.Input($"{module.Name}/u"));
                path.V.copy_(check.Input($"{module.Name}/v"));
            }

            layer.AddPath("default", path);
            layer.SetActiveAdapters(["default"]);
            layer.train();
            layers.Add((layer, path, module));
        }

        using (var scope = NewDisposeScope())
        {
            var loss = zeros(1);
            foreach (var (layer, _, module) in layers)
            {
                var y = layer.forward(check.Input($"{module.Name}/x"));
                check.Tensor($"expect/{module.Name}/y", y.detach());
                loss = loss + (y * check.Input($"{module.Name}/dy")).sum();
            }

            loss.backward();
        }

        check.Tensor("expect/shared/lora_A.grad", pair.A.grad!);
        check.Tensor("expect/shared/lora_B.grad", pair.B.grad!);
        foreach (var (layer, path, module) in layers)
        {
            check.Tensor($"expect/{module.Name}/u.grad", path.U.grad!);
            check.Tensor($"expect/{module.Name}/v.grad", path.V.grad!);
            layer.Merge();
            check.Tensor($"expect/{module.Name}/merged_weight", layer.Target.Weight);
        }
    }
}
