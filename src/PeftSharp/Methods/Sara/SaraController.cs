using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara;

/// <summary>SARA's optional training logic (svd form): the orthogonality penalty on P and Q as an extra loss [R].</summary>
public sealed class SaraController(IReadOnlyList<SaraPath> paths, double weight) : TrainingController
{
    /// <inheritdoc />
    public override Tensor? ExtraLoss(long step) =>
        paths.Count == 0 ? null : OrthogonalityPenalty.Compute(paths.Select(p => ((Tensor)p.A, (Tensor)p.B)), weight);
}
