using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara;

/// <summary>How the prefix sum is compared with the threshold [R].</summary>
public enum SaraRankRule
{
    /// <summary>The prefix sum reaches it: Σ ≥ m · total (default).</summary>
    Reaches,

    /// <summary>The prefix sum exceeds it: Σ &gt; m · total.</summary>
    Exceeds,
}

/// <summary>
/// SARA's rank choice (paper, arXiv 2408.03290): the number k of leading singular values of the
/// pretrained weight that make up proportion m of their sum,
/// <c>k = min { j : Σ_{i≤j} σ_i ≥ m · Σ_i σ_i }</c>, clamped to [kMin, kMax]. The SVD runs once per
/// module, in float32, on the weight's device, before training; the weight is not changed.
/// </summary>
public static class SaraRankSelection
{
    /// <summary>The singular values of <paramref name="weight"/> <c>(out, in)</c>, descending, as float32 on its device.</summary>
    public static Tensor SingularValues(Tensor weight)
    {
        using var noGrad = no_grad();
        return linalg.svdvals(weight.detach().to(ScalarType.Float32));
    }

    /// <summary>
    /// k for proportion <paramref name="threshold"/> of the singular values' sum (before clamping).
    /// The paper's rule is reconstructed [R]: by default the first j whose prefix sum reaches
    /// (≥) the threshold, counted as j; <paramref name="rule"/> and <paramref name="countPreceding"/>
    /// select the other readings (strictly exceeds; count j − 1).
    /// </summary>
    public static int RankForThreshold(IReadOnlyList<double> singularValues, double threshold, SaraRankRule rule = SaraRankRule.Reaches, bool countPreceding = false)
    {
        if (threshold is <= 0 or > 1 || double.IsNaN(threshold))
        {
            throw new PeftConfigurationException($"the SARA threshold m must be in (0, 1], got {threshold}");
        }

        var total = singularValues.Sum();
        var target = threshold * total;
        double sum = 0;
        for (var j = 0; j < singularValues.Count; j++)
        {
            sum += singularValues[j];
            if (rule == SaraRankRule.Reaches ? sum >= target : sum > target)
            {
                return countPreceding ? j : j + 1;
            }
        }

        return singularValues.Count;
    }

    /// <summary>k for <paramref name="weight"/> <c>(out, in)</c>: the threshold rule, clamped to [<paramref name="kMin"/>, <paramref name="kMax"/>] and to min(out, in).</summary>
    public static int SelectRank(Tensor weight, double threshold, int kMin = 1, int? kMax = null, SaraRankRule rule = SaraRankRule.Reaches, bool countPreceding = false)
    {
        using var scope = NewDisposeScope();
        var values = SingularValues(weight).to(ScalarType.Float64).cpu().data<double>().ToArray();
        var k = RankForThreshold(values, threshold, rule, countPreceding);
        k = Math.Max(k, kMin);
        if (kMax is { } max)
        {
            k = Math.Min(k, max);
        }

        return Math.Clamp(k, 1, values.Length);
    }

    /// <summary>The target's weight as <c>(out, in)</c> (Conv1D weights are stored transposed).</summary>
    public static Tensor OutByIn(LinearTarget target) => target.FanInFanOut ? target.Weight.t() : target.Weight;
}
