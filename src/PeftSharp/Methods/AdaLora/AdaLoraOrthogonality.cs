using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>AdaLoRA's orthogonality regulariser, in the official form.</summary>
public static class AdaLoraOrthogonality
{
    /// <summary>
    /// <c>weight · mean over every A and B of ‖P Pᵀ − I‖_F</c> (A: <c>A·Aᵀ</c>, B: <c>Bᵀ·B</c>), a plain
    /// Frobenius norm (not squared). Differentiable; the caller adds it to the loss.
    /// </summary>
    public static Tensor Penalty(IReadOnlyList<AdaLoraPath> paths, double weight)
    {
        using var scope = NewDisposeScope();
        var terms = new List<Tensor>();
        foreach (var path in paths)
        {
            var a = matmul(path.A, path.A.t());
            terms.Add((a - eye(a.shape[0], dtype: a.dtype)).norm());
            var b = matmul(path.B.t(), path.B);
            terms.Add((b - eye(b.shape[0], dtype: b.dtype)).norm());
        }

        return (stack(terms.ToArray()).mean() * weight).MoveToOuterDisposeScope();
    }
}
