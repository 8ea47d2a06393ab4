using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>The orthogonality regulariser of SVD-form adapters (AdaLoRA's official form; SARA's option).</summary>
public static class OrthogonalityPenalty
{
    /// <summary>
    /// <c>weight · mean over every down projection A and up projection B of ‖P Pᵀ − I‖_F</c>
    /// (A: <c>A·Aᵀ</c>, B: <c>Bᵀ·B</c>), a plain Frobenius norm (not squared). Differentiable; the
    /// caller adds it to the loss. Factors of one shape are stacked and their Gram matrices formed
    /// in one batched product, so a model with hundreds of adapted modules costs a few kernels.
    /// </summary>
    public static Tensor Compute(IEnumerable<(Tensor Down, Tensor Up)> factors, double weight)
    {
        ArgumentNullException.ThrowIfNull(factors);
        using var scope = NewDisposeScope();
        var pairs = factors.ToList();
        var norms = new List<Tensor>();
        foreach (var group in pairs.Select(f => f.Down).GroupBy(Shape))
        {
            var stacked = stack(group.ToArray());
            norms.Add(DistanceFromIdentity(bmm(stacked, stacked.transpose(1, 2))));
        }

        foreach (var group in pairs.Select(f => f.Up).GroupBy(Shape))
        {
            var stacked = stack(group.ToArray());
            norms.Add(DistanceFromIdentity(bmm(stacked.transpose(1, 2), stacked)));
        }

        return (cat(norms).sum() * (weight / (2.0 * pairs.Count))).MoveToOuterDisposeScope();
    }

    private static (long Rows, long Columns, ScalarType Type) Shape(Tensor t) => (t.shape[0], t.shape[1], t.dtype);

    /// <summary>‖G − I‖_F of each Gram matrix of <paramref name="grams"/> <c>(n, r, r)</c> (the norm's gradient is 0 where G = I).</summary>
    private static Tensor DistanceFromIdentity(Tensor grams) =>
        (grams - eye(grams.shape[1], dtype: grams.dtype, device: grams.device)).flatten(1).norm(1);
}
