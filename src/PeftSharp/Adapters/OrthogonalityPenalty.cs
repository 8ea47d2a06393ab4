using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>The orthogonality regulariser of SVD-form adapters (AdaLoRA's official form; SARA's option).</summary>
public static class OrthogonalityPenalty
{
    /// <summary>
    /// <c>weight · mean over every down projection A and up projection B of ‖P Pᵀ − I‖_F</c>
    /// (A: <c>A·Aᵀ</c>, B: <c>Bᵀ·B</c>), a plain Frobenius norm (not squared). Differentiable; the
    /// caller adds it to the loss.
    /// </summary>
    public static Tensor Compute(IEnumerable<(Tensor Down, Tensor Up)> factors, double weight)
    {
        using var scope = NewDisposeScope();
        var terms = new List<Tensor>();
        foreach (var (down, up) in factors)
        {
            var a = matmul(down, down.t());
            terms.Add((a - eye(a.shape[0], dtype: a.dtype)).norm());
            var b = matmul(up.t(), up);
            terms.Add((b - eye(b.shape[0], dtype: b.dtype)).norm());
        }

        return (stack(terms.ToArray()).mean() * weight).MoveToOuterDisposeScope();
    }
}
