using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// Weight updates of known rank and the rule that reads a rank back from a learned update: the two
/// ends of the rank-recovery benchmark (<see cref="RankRecoveryTeacher"/>).
/// </summary>
public static class LowRankDeltas
{
    /// <summary>
    /// A random <c>(out, in)</c> update of exactly rank <paramref name="rank"/> with a flat spectrum:
    /// <c>U · diag(s, …, s) · Vᵀ</c> with orthonormal random <c>U</c> (out × rank) and <c>V</c> (in × rank),
    /// so its first <paramref name="rank"/> singular values are <paramref name="singularValue"/> and the
    /// rest are zero. Rank 0 is the zero matrix.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The rank is negative or above min(out, in), or the singular value is not positive.</exception>
    public static Tensor Create(long outFeatures, long inFeatures, int rank, double singularValue, Generator generator)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rank, Math.Min(outFeatures, inFeatures));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(singularValue);
        if (rank == 0)
        {
            return zeros(outFeatures, inFeatures);
        }

        using var scope = NewDisposeScope();
        var (u, _) = linalg.qr(randn(outFeatures, rank, dtype: ScalarType.Float64, generator: generator));
        var (v, _) = linalg.qr(randn(inFeatures, rank, dtype: ScalarType.Float64, generator: generator));
        return matmul(u * singularValue, v.t()).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The root-mean-square singular value of <paramref name="weight"/>: <c>‖W‖_F / √min(out, in)</c>, the scale of one typical direction of it.</summary>
    public static double RmsSingularValue(Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        using var scope = NewDisposeScope();
        return weight.detach().to(ScalarType.Float64).norm().item<double>() / Math.Sqrt(Math.Min(weight.shape[0], weight.shape[1]));
    }

    /// <summary>The singular values of <paramref name="matrix"/>, largest first (computed in float64).</summary>
    public static double[] SingularValues(Tensor matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        using var scope = NewDisposeScope();
        return linalg.svdvals(matrix.detach().to(ScalarType.Float64)).data<double>().ToArray();
    }

    /// <summary>
    /// The effective rank of a learned update: how many of its singular values reach
    /// <paramref name="threshold"/> (an absolute scale; the benchmark uses half the per-direction
    /// strength the teacher gives every direction of that module, <see cref="TeacherModule.DirectionStrength"/>).
    /// </summary>
    public static int EffectiveRank(IReadOnlyList<double> singularValues, double threshold)
    {
        ArgumentNullException.ThrowIfNull(singularValues);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threshold);
        return singularValues.Count(s => s >= threshold);
    }
}
