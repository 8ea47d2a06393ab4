namespace PeftSharp.Methods.Sara;

/// <summary>Where Mo-SARA's frozen bases come from [R].</summary>
public enum MoSaraBasis
{
    /// <summary>The top-k singular vectors of the pretrained weight (same SVD as the rank choice).</summary>
    Svd,

    /// <summary>Seeded random bases (Kaiming-uniform, VeRA-like).</summary>
    Random,
}
