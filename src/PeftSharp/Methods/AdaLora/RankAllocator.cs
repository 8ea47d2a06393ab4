using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>
/// AdaLoRA's rank allocator (the official <c>RankAllocator</c>): sensitivity <c>|p·∇p|</c> smoothed by
/// an EMA (β1) and its uncertainty by another (β2); a triplet's score is E's score plus the mean
/// scores of A's row and B's column; a cubic schedule lowers the budget from Σ init_r to Σ target_r,
/// and the lowest-scoring triplets get λ (E) set to 0. Importance stops updating in the final phase.
/// </summary>
public sealed class RankAllocator
{
    private readonly IReadOnlyList<AdaLoraPath> _paths;
    private readonly Dictionary<Tensor, (Tensor Ipt, Tensor Unc)> _ema = new(ReferenceEqualityComparer.Instance);

    /// <summary>Creates the allocator for <paramref name="paths"/> (each at init_r).</summary>
    public RankAllocator(IReadOnlyList<AdaLoraPath> paths, int initR, int targetR, int tInit, int tFinal, int deltaT, double beta1, double beta2, int totalStep)
    {
        _paths = paths;
        InitialBudget = initR * paths.Count;
        TargetBudget = targetR * paths.Count;
        (TInit, TFinal, DeltaT, Beta1, Beta2, TotalStep) = (tInit, tFinal, deltaT, beta1, beta2, totalStep);
    }

    /// <summary>Σ init_r.</summary>
    public int InitialBudget { get; }

    /// <summary>Σ target_r.</summary>
    public int TargetBudget { get; }

    private int TInit { get; }

    private int TFinal { get; }

    private int DeltaT { get; }

    private double Beta1 { get; }

    private double Beta2 { get; }

    private int TotalStep { get; }

    /// <summary>The budget at <paramref name="step"/> and whether masking runs then (official schedule).</summary>
    public (int Budget, bool Mask) BudgetSchedule(long step)
    {
        if (step <= TInit)
        {
            return (InitialBudget, false);
        }

        if (step > TotalStep - TFinal)
        {
            return (TargetBudget, true);
        }

        var remaining = 1 - (step - TInit) / (double)(TotalStep - TFinal - TInit);
        return ((int)((InitialBudget - TargetBudget) * Math.Pow(remaining, 3) + TargetBudget), step % DeltaT == 0);
    }

    /// <summary>
    /// One call per optimizer step, after the step and before gradients are cleared: updates the
    /// importance EMAs (unless in the final phase), then masks to the scheduled budget when due.
    /// Returns the budget and the threshold (null when no masking ran).
    /// </summary>
    public (int Budget, double? Threshold) UpdateAndMask(long step)
    {
        if (step < TotalStep - TFinal)
        {
            UpdateImportance();
        }

        var (budget, mask) = BudgetSchedule(step);
        return (budget, mask ? MaskToBudget(budget) : null);
    }

    /// <summary>The EMA sensitivity and uncertainty of <paramref name="parameter"/> (null before the first update).</summary>
    public (Tensor Sensitivity, Tensor Uncertainty)? Importance(Tensor parameter) =>
        _ema.TryGetValue(parameter, out var e) ? (e.Ipt, e.Unc) : null;

    /// <summary>Restores the EMAs of <paramref name="parameter"/> (from a checkpoint).</summary>
    public void SetImportance(Tensor parameter, Tensor sensitivity, Tensor uncertainty)
    {
        using var noGrad = no_grad();
        _ema[parameter] = (sensitivity.to(parameter.dtype).clone().DetachFromDisposeScope(), uncertainty.to(parameter.dtype).clone().DetachFromDisposeScope());
    }

    private void UpdateImportance()
    {
        using var noGrad = no_grad();
        foreach (var path in _paths)
        {
            foreach (var p in new Tensor[] { path.A, path.E, path.B })
            {
                using var scope = NewDisposeScope();
                var grad = p.grad ?? throw new InvalidOperationException("AdaLoRA's allocator needs gradients: call it after backward and before zero_grad");
                var ipt = (p * grad).abs();
                if (!_ema.TryGetValue(p, out var ema))
                {
                    ema = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                    _ema[p] = ema;
                }

                ema.Ipt.mul_(Beta1).add_(ipt, alpha: 1 - Beta1);
                ema.Unc.mul_(Beta2).add_((ipt - ema.Ipt).abs(), alpha: 1 - Beta2);
            }
        }
    }

    private double MaskToBudget(int budget)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor Score(Tensor p) => _ema.TryGetValue(p, out var e) ? e.Ipt * e.Unc : zeros_like(p);
        var scores = _paths.Select(path =>
            Score(path.E).view(-1) + Score(path.A).mean([1L]) + Score(path.B).mean([0L])).ToList();
        var k = InitialBudget - budget;
        if (k <= 0)
        {
            return double.NegativeInfinity;
        }

        // One concatenation, one k-th value, one comparison; the per-module masks are views of it,
        // and the kept flags come back to the host in a single copy.
        var all = cat(scores.Select(s => s.view(-1)).ToArray());
        var threshold = kthvalue(all, k, 0).values;
        var masked = all.le(threshold);
        var offset = 0L;
        foreach (var path in _paths)
        {
            path.E.masked_fill_(masked.narrow(0, offset, path.Rank).view(-1, 1), 0.0);
            offset += path.Rank;
        }

        var kept = masked.logical_not().data<bool>().ToArray();
        offset = 0;
        foreach (var path in _paths)
        {
            path.SetKept(kept.AsSpan((int)offset, path.Rank).ToArray());
            offset += path.Rank;
        }

        return threshold.to(ScalarType.Float64).item<double>();
    }
}
