using PeftSharp.Conformance;
using static TorchSharp.torch;

namespace PeftSharp.Methods.DyLora.Verification;

/// <summary>
/// DyLoRA conformance against the official loralib: <c>dylora/forward</c> (output and merged weight
/// at every rank) and <c>dylora/train_grad</c> (training output and gradients at every rank, frozen or not).
/// </summary>
internal sealed class DyLoraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind is "forward" or "train_grad";

    public void Run(ConformanceCheck check)
    {
        var c = check.Case;
        var module = c.Modules[0];
        var prefix = module.Name + "/";
        using var layer = ConformanceLayers.Wrap(check, module);
        var path = new DyLoraPath(module.InFeatures, module.OutFeatures, module.R, c.ConfigDouble("lora_alpha"));
        using (no_grad())
        {
            path.A.copy_(check.Input(prefix + "lora_A"));
            path.B.copy_(check.Input(prefix + "lora_B"));
        }

        layer.AddPath("default", path);
        layer.SetActiveAdapters(["default"]);
        var x = check.Input("x");
        for (var k = 1; k <= module.R; k++)
        {
            path.SetRank(k);
            if (c.Kind == "forward")
            {
                layer.eval();
                using var noGrad = no_grad();
                using (var y = layer.forward(x))
                {
                    check.Tensor($"expect/rank{k}/y", y);
                }

                layer.Merge();
                check.Tensor($"expect/rank{k}/merged_weight", layer.Target.Weight);
                layer.Unmerge();
                continue;
            }

            layer.train();
            path.Frozen = c.ConfigBool("frozen", true);
            using var scope = NewDisposeScope();
            var output = layer.forward(x);
            (output * check.Input("dy")).sum().backward();
            check.Tensor($"expect/rank{k}/y", output.detach());
            check.Tensor($"expect/rank{k}/lora_A.grad", path.A.grad!);
            check.Tensor($"expect/rank{k}/lora_B.grad", path.B.grad!);
            path.A.grad!.zero_();
            path.B.grad!.zero_();
        }
    }
}
