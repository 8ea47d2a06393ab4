using PeftSharp.Adapters;
using PeftSharp.Conformance;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sora.Verification;

/// <summary>
/// SoRA conformance against the official code: <c>sora/forward</c> (the gated path),
/// <c>sora/gate_optimizer</c> (Adam step, threshold and ξ schedule, step by step) and
/// <c>sora/trajectory</c> (L1 term, SGD on A and B, the gate optimizer, non-zero gate counts).
/// </summary>
internal sealed class SoraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind is "forward" or "gate_optimizer" or "trajectory";

    public void Run(ConformanceCheck check)
    {
        switch (check.Case.Kind)
        {
            case "gate_optimizer":
                RunGateOptimizer(check);
                return;
            case "trajectory":
                RunTrajectory(check);
                return;
        }

        foreach (var module in check.Case.Modules)
        {
            using var layer = ConformanceLayers.Wrap(check, module);
            var path = new SoraPath(module.InFeatures, module.OutFeatures, module.R, check.Case.ConfigDouble("lora_alpha"));
            Load(path, check, module.Name + "/");
            ConformanceLayers.CheckForwardAndMerge(check, module, layer, path);
        }
    }

    private static void Load(SoraPath path, ConformanceCheck check, string prefix)
    {
        using var noGrad = no_grad();
        path.A.copy_(check.Input(prefix + "lora_A"));
        path.Gate.copy_(check.Input(prefix + "gate"));
        path.B.copy_(check.Input(prefix + "lora_B"));
        path.SetNonZeroCount(null);
    }

    private static void RunGateOptimizer(ConformanceCheck check)
    {
        var c = check.Case;
        var gates = c.Modules.Select(m => new Parameter(check.Input($"init/{m.Name}").clone())).ToList();
        var schedule = c.Config["lambda_schedule"]?.GetValue<string>() switch
        {
            "linear" => SoraLambdaSchedule.Linear,
            "log_linear" => SoraLambdaSchedule.LogLinear,
            "exp_linear" => SoraLambdaSchedule.ExpLinear,
            _ => SoraLambdaSchedule.None,
        };
        var betas = c.Config["betas"]!.AsArray();
        var optimizer = new SoraGateOptimizer(gates, c.ConfigDouble("sparse_lambda"), SoraThresholdMode.Reference, schedule,
            c.Config["max_lambda"]?.GetValue<double>(), c.Config["lambda_num"]?.GetValue<int>(),
            betas[0]!.GetValue<double>(), betas[1]!.GetValue<double>(), c.ConfigDouble("eps"));
        var lr = c.ConfigDouble("lr");
        foreach (var stepNode in c.Steps!)
        {
            var step = stepNode!["step"]!.GetValue<int>();
            using var scope = NewDisposeScope();
            for (var i = 0; i < gates.Count; i++)
            {
                gates[i].grad = check.Input($"step{step}/grad/{c.Modules[i].Name}").clone();
            }

            optimizer.Step(lr);
            if (stepNode["step_lambda_called"]?.GetValue<bool>() == true)
            {
                optimizer.StepLambda();
            }

            check.Scalar($"step {step} lambda", optimizer.Lambda, stepNode["lambda_after_step"]!.GetValue<double>());
            for (var i = 0; i < gates.Count; i++)
            {
                var name = c.Modules[i].Name;
                var (m, v) = optimizer.Moments(i);
                check.Tensor($"step{step}/expect/{name}", gates[i]);
                check.Tensor($"step{step}/expect/{name}.exp_avg", m);
                check.Tensor($"step{step}/expect/{name}.exp_avg_sq", v);
            }
        }
    }

    /// <summary>The description's loop in float64: x → m0 → tanh → … → last; MSE + L1 on the gates; SGD on A, B; gate optimizer.</summary>
    private static void RunTrajectory(ConformanceCheck check)
    {
        var c = check.Case;
        var paths = new List<SoraPath>();
        var layers = ConformanceLayers.Float64Chain(check, module =>
        {
            var path = new SoraPath(module.InFeatures, module.OutFeatures, module.R, c.ConfigDouble("lora_alpha"), dtype: ScalarType.Float64);
            Load(path, check, $"init/{module.Name}/");
            paths.Add(path);
            return path;
        });

        var config = new SoraConfig { R = c.Modules[0].R, SparseLambda = c.ConfigDouble("sparse_lambda"), SparseLambda2 = c.ConfigDouble("sparse_lambda_2"), GateLearningRate = c.ConfigDouble("lr_gate") };
        var controller = new SoraController(paths, config);
        var lr = c.ConfigDouble("lr");
        foreach (var stepNode in c.Steps!)
        {
            var step = stepNode!["step"]!.GetValue<int>();
            using var scope = NewDisposeScope();
            var h = ConformanceLayers.ForwardChain(layers, check.Input($"step{step}/x"));
            var loss = nn.functional.mse_loss(h, check.Input($"step{step}/y")) + controller.ExtraLoss(step - 1)!;
            check.Scalar($"step {step} loss", loss.item<double>(), stepNode["loss"]!.GetValue<double>());
            loss.backward();
            using (no_grad())
            {
                foreach (var path in paths)
                {
                    path.A.add_(path.A.grad!, alpha: -lr);
                    path.B.add_(path.B.grad!, alpha: -lr);
                }
            }

            controller.OnOptimizerStep(step - 1, lr, 1.0);
            controller.OnAfterOptimizerStep(step - 1);
            for (var i = 0; i < paths.Count; i++)
            {
                var name = c.Modules[i].Name;
                check.Tensor($"step{step}/expect/{name}/lora_A", paths[i].A);
                check.Tensor($"step{step}/expect/{name}/gate", paths[i].Gate);
                check.Tensor($"step{step}/expect/{name}/lora_B", paths[i].B);
                if (stepNode["nonzero_gates"]?[name] is { } want)
                {
                    check.Scalar($"step {step} {name} non-zero gates", paths[i].EffectiveRank, want.GetValue<int>());
                }

                foreach (var p in new[] { paths[i].A, paths[i].Gate, paths[i].B })
                {
                    p.grad!.zero_();
                }
            }
        }
    }
}
