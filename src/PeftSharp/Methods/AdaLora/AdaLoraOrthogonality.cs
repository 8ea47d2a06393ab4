using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>AdaLoRA's orthogonality regulariser, in the official form.</summary>
public static class AdaLoraOrthogonality
{
    /// <summary>
    /// <c>weight · mean over every A and B of ‖P Pᵀ − I‖_F</c> (A: <c>A·Aᵀ</c>, B: <c>Bᵀ·B</c>), a plain
    /// Frobenius norm (not squared). Differentiable; the caller adds it to the loss.
    /// </summary>
    public static Tensor Penalty(IReadOnlyList<AdaLoraPath> paths, double weight) =>
        OrthogonalityPenalty.Compute(paths.Select(p => ((Tensor)p.A, (Tensor)p.B)), weight);
}
