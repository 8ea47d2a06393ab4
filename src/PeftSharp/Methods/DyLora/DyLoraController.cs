using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.DyLora;

/// <summary>
/// DyLoRA's training controller: at the start of every optimizer step it draws one rank b uniformly
/// from 1..r_max and sets it (with the frozen flag) on every DyLoRA path of the adapter, so all
/// micro-batches of the step and all modules share it. The draw is a pure function of (seed, step)
/// — a SplitMix64 hash — so a resumed run draws the same ranks without saving generator state.
/// At the end of training the evaluation rank is set and freezing is switched off.
/// <para>
/// Frozen mode is a gradient stop, as in the official code: with AdamW the other components still
/// move through momentum and weight decay. With <see cref="DyLoraConfig.StrictFreeze"/> the
/// controller snapshots A and B before the optimizer step and restores every component except
/// b − 1 afterwards, so they truly hold (the optimizer's moments still decay).
/// </para>
/// </summary>
public sealed class DyLoraController : TrainingController
{
    private readonly IReadOnlyList<DyLoraPath> _paths;
    private readonly DyLoraConfig _config;

    /// <summary>Creates the controller for the paths of one adapter.</summary>
    public DyLoraController(IReadOnlyList<DyLoraPath> paths, DyLoraConfig config)
    {
        _paths = paths;
        _config = config;
    }

    /// <summary>The rank drawn for the current step.</summary>
    public int CurrentRank { get; private set; }

    /// <summary>The rank step <paramref name="step"/> trains at: uniform on 1..r_max for a given seed.</summary>
    public static int RankForStep(int seed, long step, int maxRank)
    {
        var z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (int)(z % (ulong)maxRank) + 1;
    }

    /// <inheritdoc />
    public override void OnStepBegin(long step)
    {
        CurrentRank = RankForStep(_config.RankSeed, step, _config.R);
        foreach (var path in _paths)
        {
            path.SetRank(CurrentRank);
            path.Frozen = _config.FrozenMode;
        }
    }

    private readonly List<(Tensor A, Tensor B)> _snapshots = [];

    /// <inheritdoc />
    public override void OnAfterBackward(long step)
    {
        if (!_config.StrictFreeze || !_config.FrozenMode)
        {
            return;
        }

        DisposeSnapshots();
        using var noGrad = no_grad();
        foreach (var path in _paths)
        {
            _snapshots.Add((path.A.detach().clone(), path.B.detach().clone()));
        }
    }

    /// <inheritdoc />
    public override void OnAfterOptimizerStep(long step)
    {
        if (_snapshots.Count == 0)
        {
            return;
        }

        using (no_grad())
        {
            for (var i = 0; i < _paths.Count; i++)
            {
                var live = CurrentRank - 1;
                var (a, b) = _snapshots[i];
                using var rowMask = ones(_paths[i].MaxRank, 1, dtype: ScalarType.Bool);
                rowMask[live] = false;
                _paths[i].A.copy_(where(rowMask, a, _paths[i].A));
                using var columnMask = rowMask.t();
                _paths[i].B.copy_(where(columnMask, b, _paths[i].B));
            }
        }

        DisposeSnapshots();
    }

    private void DisposeSnapshots()
    {
        foreach (var (a, b) in _snapshots)
        {
            a.Dispose();
            b.Dispose();
        }

        _snapshots.Clear();
    }

    /// <summary>Evaluations during training run at the evaluation rank, unfrozen, as the official evaluation does.</summary>
    public override void OnEvaluationBegin() => UseEvaluationRank();

    /// <inheritdoc />
    public override void OnEvaluationEnd()
    {
        if (CurrentRank == 0)
        {
            return;
        }

        foreach (var path in _paths)
        {
            path.SetRank(CurrentRank);
            path.Frozen = _config.FrozenMode;
        }
    }

    /// <inheritdoc />
    public override void OnTrainingEnd() => UseEvaluationRank();

    /// <summary>Every path at the evaluation rank (r_max by default), unfrozen.</summary>
    private void UseEvaluationRank()
    {
        foreach (var path in _paths)
        {
            path.SetRank(_config.EvalRank ?? path.MaxRank);
            path.Frozen = false;
        }
    }
}
