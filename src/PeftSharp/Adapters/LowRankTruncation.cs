using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// Best rank-k approximations of a low-rank increment <c>ΔW = s · B · A</c>, computed from the
/// factors alone (QR of B and Aᵀ, then an SVD of an r × r matrix), never from the full matrix.
/// </summary>
public static class LowRankTruncation
{
    /// <summary>
    /// The k = min(<paramref name="maxRank"/>, rank) leading singular components of <paramref name="factors"/>
    /// as new factors with the same scaling: <c>B' = Q_B·U_k·Σ_k</c>, <c>A' = V_kᵀ·Q_Aᵀ</c>. The result is
    /// the best rank-k approximation of ΔW in Frobenius and spectral norm. Consumes <paramref name="factors"/>
    /// (its tensors are disposed unless returned unchanged).
    /// </summary>
    public static PlainLoraFactors Truncate(PlainLoraFactors factors, int maxRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRank);
        if (factors.Rank <= maxRank)
        {
            return factors;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dtype = factors.A.dtype;
        var (qb, u, s, vh, qa) = Decompose(factors);
        var b = matmul(qb, u[.., ..maxRank] * s[..maxRank]);
        var a = matmul(vh[..maxRank, ..], qa.t());
        var result = new PlainLoraFactors(a.to(dtype).contiguous().MoveToOuterDisposeScope(), b.to(dtype).contiguous().MoveToOuterDisposeScope(), factors.Scaling);
        factors.A.Dispose();
        factors.B.Dispose();
        return result;
    }

    /// <summary>The singular values of <c>ΔW = s·B·A</c>, descending (the scaling included). Does not consume <paramref name="factors"/>.</summary>
    public static double[] SingularValues(PlainLoraFactors factors)
    {
        if (factors.Rank == 0)
        {
            return [];
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (_, _, s, _, _) = Decompose(factors);
        return s.mul(Math.Abs(factors.Scaling)).cpu().data<double>().ToArray();
    }

    private static (Tensor Qb, Tensor U, Tensor S, Tensor Vh, Tensor Qa) Decompose(PlainLoraFactors factors)
    {
        var (qb, rb) = linalg.qr(factors.B.to(ScalarType.Float64));
        var (qa, ra) = linalg.qr(factors.A.to(ScalarType.Float64).t());
        var (u, s, vh) = linalg.svd(matmul(rb, ra.t()), fullMatrices: false);
        return (qb, u, s, vh, qa);
    }
}

/// <summary>
/// The budget dial: how many components each adapted module keeps so that a compact plain LoRA has at
/// most a given number of parameters (a component of a module costs <c>in + out</c>).
/// </summary>
public static class RankBudget
{
    /// <summary>
    /// Ranks per module for at most <paramref name="budget"/> parameters: components are taken in
    /// order of importance (<see cref="LowRankPath.ComponentImportance"/>: singular values of ΔW, or the
    /// method's own order), each module keeping a prefix of its order, while they fit.
    /// </summary>
    /// <exception cref="PeftConfigurationException">The budget cannot hold a single component.</exception>
    public static Dictionary<string, int> Allocate(PeftModel peft, long budget, string? adapterName = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        var modules = peft.ModulesOf(name);
        var candidates = new List<(int Module, int Index, double Importance, long Cost)>();
        for (var m = 0; m < modules.Count; m++)
        {
            var path = modules[m].Layer.GetPath(name);
            var importance = path.ComponentImportance();
            candidates.AddRange(importance.Select((v, i) => (m, i, v, (long)path.InFeatures + path.OutFeatures)));
        }

        var cheapest = candidates.Count == 0 ? 0 : candidates.Min(c => c.Cost);
        if (candidates.Count == 0 || budget < cheapest)
        {
            throw new PeftConfigurationException($"a budget of {budget} parameters is below the minimum of {cheapest} (one rank-1 component of the smallest module)");
        }

        var ranks = new int[modules.Count];
        long used = 0;
        foreach (var c in candidates.OrderByDescending(c => c.Importance).ThenBy(c => c.Index).ThenBy(c => c.Module))
        {
            if (c.Index == ranks[c.Module] && used + c.Cost <= budget)
            {
                ranks[c.Module]++;
                used += c.Cost;
            }
        }

        return modules.Select((m, i) => (m.Name, Rank: ranks[i])).ToDictionary(t => t.Name, t => t.Rank, StringComparer.Ordinal);
    }

    /// <summary>The parameters a compact plain LoRA with <paramref name="ranks"/> has.</summary>
    public static long Parameters(PeftModel peft, IReadOnlyDictionary<string, int> ranks, string? adapterName = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        return peft.ModulesOf(name).Sum(m => (long)ranks.GetValueOrDefault(m.Name) * (m.Layer.GetPath(name).InFeatures + m.Layer.GetPath(name).OutFeatures));
    }
}
