using PeftSharp.Adapters;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sora;

/// <summary>
/// SoRA's training controller, as the official trainer runs it: the L1 term
/// <c>sparse_lambda · Σ|g| / (number of gate entries)</c> joins the loss; the gates are left out of the
/// trainer's AdamW and stepped by <see cref="SoraGateOptimizer"/> (Adam, then the threshold) right
/// after it, at the gate learning rate times the trainer's warm-up/decay factor; with a ξ schedule,
/// ξ moves to its next value every <see cref="SoraConfig.LambdaStageSteps"/> steps. The gate
/// optimizer's moments, step and ξ position are part of the checkpoint.
/// </summary>
public sealed class SoraController : TrainingController
{
    private readonly IReadOnlyList<SoraPath> _paths;
    private readonly SoraConfig _config;
    private readonly Parameter[] _gates;
    private readonly long _gateEntries;

    /// <summary>Creates the controller for one adapter's paths.</summary>
    public SoraController(IReadOnlyList<SoraPath> paths, SoraConfig config)
    {
        _paths = paths;
        _config = config;
        _gates = paths.Select(p => p.Gate).ToArray();
        _gateEntries = _gates.Sum(g => g.numel());
        GateOptimizer = new SoraGateOptimizer(_gates, config.SparseLambda2, config.ThresholdMode, config.LambdaSchedule, config.MaxLambda, config.LambdaNum);
    }

    /// <summary>The gate optimizer.</summary>
    public SoraGateOptimizer GateOptimizer { get; }

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> OwnedParameters => _gates;

    /// <inheritdoc />
    public override Tensor? ExtraLoss(long step)
    {
        if (_config.SparseLambda <= 0 || _gates.Length == 0)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        var sum = stack(_gates.Select(g => g.abs().sum()).ToArray()).sum();
        return sum.mul_(_config.SparseLambda / _gateEntries).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override void OnOptimizerStep(long step, double learningRate, double scheduleMultiplier)
    {
        GateOptimizer.Step((_config.GateLearningRate ?? learningRate) * scheduleMultiplier);
        RefreshCounts();
    }

    /// <inheritdoc />
    public override void OnAfterOptimizerStep(long step)
    {
        if (_config.LambdaStageSteps is { } stage && (step + 1) % stage == 0)
        {
            GateOptimizer.StepLambda();
        }
    }

    /// <inheritdoc />
    public override ControllerState GetState()
    {
        var state = new ControllerState();
        for (var i = 0; i < _gates.Length; i++)
        {
            var (m, v) = GateOptimizer.Moments(i);
            state.Tensors[$"{i}.exp_avg"] = m.clone();
            state.Tensors[$"{i}.exp_avg_sq"] = v.clone();
        }

        state.Values["step"] = GateOptimizer.StepCount;
        state.Values["lambda_index"] = GateOptimizer.LambdaIndex;
        state.Values["lambda"] = GateOptimizer.Lambda;
        return state;
    }

    /// <inheritdoc />
    public override void LoadState(ControllerState state)
    {
        var expAvg = new List<Tensor>();
        var expAvgSq = new List<Tensor>();
        for (var i = 0; i < _gates.Length; i++)
        {
            if (!state.Tensors.TryGetValue($"{i}.exp_avg", out var m) || !state.Tensors.TryGetValue($"{i}.exp_avg_sq", out var v))
            {
                throw new ArgumentException($"the SoRA checkpoint state has no gate moments for gate {i}");
            }

            expAvg.Add(m);
            expAvgSq.Add(v);
        }

        GateOptimizer.Restore((long)state.Values.GetValueOrDefault("step"), (int)state.Values.GetValueOrDefault("lambda_index"), expAvg, expAvgSq);
        RefreshCounts();
    }

    /// <summary>Non-zero gates per path after the gates changed: one host copy for all of them.</summary>
    private void RefreshCounts()
    {
        if (_gates.Length == 0)
        {
            return;
        }

        using var scope = NewDisposeScope();
        var counts = stack(_gates.Select(g => g.count_nonzero()).ToArray()).data<long>().ToArray();
        for (var i = 0; i < _paths.Count; i++)
        {
            _paths[i].SetNonZeroCount((int)counts[i]);
        }
    }
}
