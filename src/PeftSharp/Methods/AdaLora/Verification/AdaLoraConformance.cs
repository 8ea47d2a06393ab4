using PeftSharp.Conformance;
using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora.Verification;

/// <summary>
/// AdaLoRA conformance against the official loralib implementation: <c>adalora/forward</c> (the
/// SVD-form path), <c>adalora/orth_reg</c> (the regulariser and its gradients) and
/// <c>adalora/allocator</c> (budgets, masking, thresholds and importance EMAs step by step).
/// </summary>
internal sealed class AdaLoraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind is "forward" or "orth_reg" or "allocator" or "trajectory";

    public void Run(ConformanceCheck check)
    {
        switch (check.Case.Kind)
        {
            case "orth_reg":
                RunOrthogonality(check);
                return;
            case "allocator":
                RunAllocator(check);
                return;
            case "trajectory":
                RunTrajectory(check);
                return;
        }

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

    private static List<AdaLoraPath> Paths(ConformanceCheck check, string prefix)
    {
        var paths = new List<AdaLoraPath>();
        foreach (var module in check.Case.Modules)
        {
            var path = new AdaLoraPath(module.InFeatures, module.OutFeatures, module.R, module.R, 1.0);
            using (no_grad())
            {
                path.A.copy_(check.Input($"{prefix}{module.Name}/lora_A"));
                path.B.copy_(check.Input($"{prefix}{module.Name}/lora_B"));
                if (check.Has($"{prefix}{module.Name}/lora_E"))
                {
                    path.E.copy_(check.Input($"{prefix}{module.Name}/lora_E"));
                }
            }

            paths.Add(path);
        }

        return paths;
    }

    private static void RunOrthogonality(ConformanceCheck check)
    {
        var paths = Paths(check, string.Empty);
        using var scope = NewDisposeScope();
        var loss = AdaLoraOrthogonality.Penalty(paths, check.Case.ConfigDouble("orth_reg_weight"));
        loss.backward();
        check.Tensor("expect/orth_loss", loss.detach().reshape(check.Input("expect/orth_loss").shape));
        for (var i = 0; i < paths.Count; i++)
        {
            var name = check.Case.Modules[i].Name;
            check.Tensor($"expect/{name}/lora_A.grad", paths[i].A.grad!);
            check.Tensor($"expect/{name}/lora_B.grad", paths[i].B.grad!);
        }
    }

    private static void RunAllocator(ConformanceCheck check)
    {
        var c = check.Case;
        var paths = Paths(check, "step1/param/");
        var allocator = new RankAllocator(paths, c.ConfigInt("init_r"), c.ConfigInt("target_r"), c.ConfigInt("tinit"), c.ConfigInt("tfinal"), c.ConfigInt("deltaT"), c.ConfigDouble("beta1"), c.ConfigDouble("beta2"), c.ConfigInt("total_step"));
        foreach (var stepNode in c.Steps!)
        {
            var step = stepNode!["step"]!.GetValue<int>();
            using var scope = NewDisposeScope();
            for (var i = 0; i < paths.Count; i++)
            {
                var name = c.Modules[i].Name;
                foreach (var (tensorName, parameter) in new[] { ("lora_A", paths[i].A), ("lora_E", paths[i].E), ("lora_B", paths[i].B) })
                {
                    using (no_grad())
                    {
                        parameter.copy_(check.Input($"step{step}/param/{name}/{tensorName}"));
                    }

                    parameter.grad = check.Input($"step{step}/grad/{name}/{tensorName}").clone();
                }
            }

            var (budget, threshold) = allocator.UpdateAndMask(step);
            check.Scalar($"step {step} budget", budget, stepNode["budget"]!.GetValue<int>());
            var expectMask = stepNode["mask_applied"]!.GetValue<bool>();
            check.Scalar($"step {step} mask applied", threshold is null ? 0 : 1, expectMask ? 1 : 0);
            if (expectMask && stepNode["mask_threshold"] is { } want)
            {
                check.Scalar($"step {step} threshold", threshold ?? double.NaN, want.GetValue<double>());
            }

            for (var i = 0; i < paths.Count; i++)
            {
                var name = c.Modules[i].Name;
                check.Tensor($"step{step}/expect/{name}/lora_E", paths[i].E);
                foreach (var (tensorName, parameter) in new[] { ("lora_A", paths[i].A), ("lora_E", paths[i].E), ("lora_B", paths[i].B) })
                {
                    var key = $"step{step}/expect/{name}/{tensorName}.exp_avg_ipt";
                    if (check.Has(key) && allocator.Importance(parameter) is { } ema)
                    {
                        check.Tensor(key, ema.Sensitivity);
                        check.Tensor($"step{step}/expect/{name}/{tensorName}.exp_avg_unc", ema.Uncertainty);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The description's loop in float64: x → m0 → tanh → … → last; loss = MSE + orth penalty;
    /// backward; SGD on A, E, B; allocator; zero grad. Loss and factors compared every step.
    /// </summary>
    private static void RunTrajectory(ConformanceCheck check)
    {
        var c = check.Case;
        var paths = new List<AdaLoraPath>();
        var layers = ConformanceLayers.Float64Chain(check, module =>
        {
            var path = new AdaLoraPath(module.InFeatures, module.OutFeatures, module.R, c.ConfigInt("init_r"), c.ConfigDouble("lora_alpha"), dtype: ScalarType.Float64);
            using (no_grad())
            {
                path.A.copy_(check.Input($"init/{module.Name}/lora_A"));
                path.E.copy_(check.Input($"init/{module.Name}/lora_E"));
                path.B.copy_(check.Input($"init/{module.Name}/lora_B"));
            }

            paths.Add(path);
            return path;
        });

        var allocator = new RankAllocator(paths, c.ConfigInt("init_r"), c.ConfigInt("target_r"), c.ConfigInt("tinit"), c.ConfigInt("tfinal"), c.ConfigInt("deltaT"), c.ConfigDouble("beta1"), c.ConfigDouble("beta2"), c.ConfigInt("total_step"));
        var lr = c.ConfigDouble("lr");
        foreach (var stepNode in c.Steps!)
        {
            var step = stepNode!["step"]!.GetValue<int>();
            using var scope = NewDisposeScope();
            var h = ConformanceLayers.ForwardChain(layers, check.Input($"step{step}/x"));
            var loss = nn.functional.mse_loss(h, check.Input($"step{step}/y")) + AdaLoraOrthogonality.Penalty(paths, c.ConfigDouble("orth_reg_weight"));
            check.Scalar($"step {step} loss", loss.item<double>(), stepNode["loss"]!.GetValue<double>());
            loss.backward();
            using (no_grad())
            {
                foreach (var path in paths)
                {
                    foreach (var p in new[] { path.A, path.E, path.B })
                    {
                        p.add_(p.grad!, alpha: -lr);
                    }
                }
            }

            allocator.UpdateAndMask(step);
            for (var i = 0; i < paths.Count; i++)
            {
                var name = c.Modules[i].Name;
                check.Tensor($"step{step}/expect/{name}/lora_A", paths[i].A);
                check.Tensor($"step{step}/expect/{name}/lora_E", paths[i].E);
                check.Tensor($"step{step}/expect/{name}/lora_B", paths[i].B);
                foreach (var p in new[] { paths[i].A, paths[i].E, paths[i].B })
                {
                    p.grad!.zero_();
                }
            }
        }
    }
}
