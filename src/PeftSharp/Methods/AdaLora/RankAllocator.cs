using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>
/// AdaLoRA's rank allocator (the official <c>RankAllocator</c>): sensitivity <c>|p·∇p|</c> smoothed by
/// an EMA (β1) and its uncertainty by another (β2); a triplet's score is E's score plus the mean
/// scores of A's row and B's column; a cubic schedule lowers the budget from Σ init_r to Σ target_r,
/// and the lowest-scoring triplets get λ (E) set to 0. Importance stops updating in the final phase.
/// The EMAs of all modules live in two flat buffers (<see cref="AdaLoraImportanceLayout"/>), so a step's
/// update and scoring are a few kernels whatever the number of modules.
/// </summary>
public sealed class RankAllocator
{
    private readonly IReadOnlyList<AdaLoraPath> _paths;
    private readonly AdaLoraImportanceLayout _layout;
    private readonly Dictionary<Tensor, (Tensor Ipt, Tensor Unc)> _views = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Tensor> _present = new(ReferenceEqualityComparer.Instance);
    private Tensor? _ipt;
    private Tensor? _unc;

    /// <summary>Creates the allocator for <paramref name="paths"/> (each at init_r).</summary>
    public RankAllocator(IReadOnlyList<AdaLoraPath> paths, int initR, int targetR, int tInit, int tFinal, int deltaT, double beta1, double beta2, int totalStep)
    {
        _paths = paths;
        _layout = new AdaLoraImportanceLayout(paths);
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

    /// <summary>The EMA sensitivity and uncertainty of <paramref name="parameter"/> (null before the first update); views of the allocator's buffers, not to be disposed.</summary>
    public (Tensor Sensitivity, Tensor Uncertainty)? Importance(Tensor parameter) =>
        _present.Contains(parameter) && _views.TryGetValue(parameter, out var e) ? (e.Ipt, e.Unc) : null;

    /// <summary>Restores the EMAs of <paramref name="parameter"/> (from a checkpoint).</summary>
    /// <exception cref="ArgumentException"><paramref name="parameter"/> is not one of the allocator's, or a tensor's shape is not its shape.</exception>
    public void SetImportance(Tensor parameter, Tensor sensitivity, Tensor uncertainty)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ArgumentNullException.ThrowIfNull(sensitivity);
        ArgumentNullException.ThrowIfNull(uncertainty);
        if (!_layout.Offsets.ContainsKey(parameter))
        {
            throw new ArgumentException("the tensor is not an A, E or B of the allocator's paths", nameof(parameter));
        }

        if (!sensitivity.shape.SequenceEqual(parameter.shape) || !uncertainty.shape.SequenceEqual(parameter.shape))
        {
            throw new ArgumentException($"importance of shape [{string.Join(", ", sensitivity.shape)}] / [{string.Join(", ", uncertainty.shape)}] for a parameter of shape [{string.Join(", ", parameter.shape)}]", nameof(sensitivity));
        }

        using var noGrad = no_grad();
        EnsureBuffers();
        var (ipt, unc) = _views[parameter];
        ipt.copy_(sensitivity);
        unc.copy_(uncertainty);
        _present.Add(parameter);
    }

    /// <summary>
    /// The sensitivity <c>|p·∇p|</c> of every A, E and B and its two EMAs, computed on the flat
    /// buffers in a handful of kernels (two concatenations, then element-wise ops over all modules at
    /// once) instead of a few kernels per parameter: the same element-wise arithmetic as per
    /// parameter, with no host synchronisation.
    /// </summary>
    private void UpdateImportance()
    {
        if (_layout.Parameters.Count == 0)
        {
            return;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var values = new Tensor[_layout.Parameters.Count];
        var grads = new Tensor[_layout.Parameters.Count];
        for (var i = 0; i < values.Length; i++)
        {
            var p = _layout.Parameters[i];
            var grad = p.grad ?? throw new InvalidOperationException("AdaLoRA's allocator needs gradients: call it after backward and before zero_grad");
            values[i] = p.reshape(-1);
            grads[i] = grad.reshape(-1);
        }

        var ipt = cat(values).mul_(cat(grads)).abs_();
        EnsureBuffers();
        _ipt!.mul_(Beta1).add_(ipt, alpha: 1 - Beta1);
        _unc!.mul_(Beta2).add_(ipt.sub_(_ipt).abs_(), alpha: 1 - Beta2);
        _present.UnionWith(_layout.Parameters);
    }

    /// <summary>Allocates the zero EMA buffers and their per-parameter views, once.</summary>
    private void EnsureBuffers()
    {
        if (_ipt is not null)
        {
            return;
        }

        var first = _layout.Parameters[0];
        _ipt = zeros(_layout.Total, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        _unc = zeros(_layout.Total, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        foreach (var p in _layout.Parameters)
        {
            var offset = _layout.Offsets[p];
            _views[p] = (_ipt.narrow(0, offset, p.numel()).view(p.shape).DetachFromDisposeScope(), _unc.narrow(0, offset, p.numel()).view(p.shape).DetachFromDisposeScope());
        }
    }

    /// <summary>
    /// Each triplet's score <c>s(E) + mean s(A row) + mean s(B column)</c> (<c>s = ipt · unc</c>, zero
    /// where there is no EMA yet), in path order. The row and column means run once per group of
    /// equally shaped parameters, on a batched view of the flat buffer.
    /// </summary>
    private Tensor TripletScores()
    {
        // A parameter without an EMA yet scores zero: its stretch of the buffers is still zero.
        var score = _ipt is null ? zeros(_layout.Total) : _ipt * _unc!;
        Tensor Role(AdaLoraRole role)
        {
            var parts = _layout.Groups.Where(g => g.Role == role).Select(g =>
            {
                var block = score.narrow(0, g.Offset, g.Count * g.Shape[0] * g.Shape[1]).view(g.Count, g.Shape[0], g.Shape[1]);
                return (role switch
                {
                    AdaLoraRole.A => block.mean([2L]),
                    AdaLoraRole.B => block.mean([1L]),
                    _ => block,
                }).reshape(-1);
            }).ToArray();
            return cat(parts).index_select(0, _layout.PathOrder(role));
        }

        return Role(AdaLoraRole.E) + Role(AdaLoraRole.A) + Role(AdaLoraRole.B);
    }

    private double MaskToBudget(int budget)
    {
        var k = InitialBudget - budget;
        if (k <= 0)
        {
            return double.NegativeInfinity;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();

        // One score vector, one k-th value, one comparison; the per-module masks are views of it,
        // and the kept flags come back to the host in a single copy.
        var all = TripletScores();
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
