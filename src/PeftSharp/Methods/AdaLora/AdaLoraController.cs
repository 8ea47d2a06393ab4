using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>
/// AdaLoRA's training controller: adds the orthogonality penalty to every step's loss and runs the
/// rank allocator once per optimizer step, after the optimizer step and before gradients are
/// cleared (so it sees the clipped gradients of the full loss and the post-step values, as the
/// official trainer does). Its importance EMAs are part of the checkpoint.
/// </summary>
public sealed class AdaLoraController : TrainingController
{
    private readonly IReadOnlyList<AdaLoraPath> _paths;
    private readonly AdaLoraConfig _config;

    /// <summary>Creates the controller for one adapter's paths.</summary>
    public AdaLoraController(IReadOnlyList<AdaLoraPath> paths, AdaLoraConfig config)
    {
        _paths = paths;
        _config = config;
        Allocator = new RankAllocator(paths, config.InitR, config.TargetR, config.TInit, config.TFinal, config.DeltaT, config.Beta1, config.Beta2, config.TotalStep!.Value);
    }

    /// <summary>The allocator.</summary>
    public RankAllocator Allocator { get; }

    /// <summary>The budget after the last step.</summary>
    public int Budget { get; private set; }

    /// <inheritdoc />
    public override Tensor? ExtraLoss(long step) =>
        _config.OrthRegWeight > 0 ? AdaLoraOrthogonality.Penalty(_paths, _config.OrthRegWeight) : null;

    /// <inheritdoc />
    public override void OnAfterOptimizerStep(long step) => Budget = Allocator.UpdateAndMask(step).Budget;

    /// <inheritdoc />
    public override ControllerState GetState()
    {
        var state = new ControllerState();
        for (var i = 0; i < _paths.Count; i++)
        {
            state.Tensors[$"{i}.kept"] = tensor(_paths[i].Kept.ToArray());
            foreach (var (name, parameter) in new[] { ("A", _paths[i].A), ("E", _paths[i].E), ("B", _paths[i].B) })
            {
                if (Allocator.Importance(parameter) is { } ema)
                {
                    state.Tensors[$"{i}.{name}.ipt"] = ema.Sensitivity.clone();
                    state.Tensors[$"{i}.{name}.unc"] = ema.Uncertainty.clone();
                }
            }
        }

        state.Values["budget"] = Budget;
        return state;
    }

    /// <inheritdoc />
    public override void LoadState(ControllerState state)
    {
        for (var i = 0; i < _paths.Count; i++)
        {
            if (state.Tensors.TryGetValue($"{i}.kept", out var kept))
            {
                _paths[i].SetKept(kept.data<bool>().ToArray());
            }

            foreach (var (name, parameter) in new[] { ("A", _paths[i].A), ("E", _paths[i].E), ("B", _paths[i].B) })
            {
                if (state.Tensors.TryGetValue($"{i}.{name}.ipt", out var ipt) && state.Tensors.TryGetValue($"{i}.{name}.unc", out var unc))
                {
                    Allocator.SetImportance(parameter, ipt, unc);
                }
            }
        }

        Budget = (int)state.Values.GetValueOrDefault("budget", 0);
    }
}
