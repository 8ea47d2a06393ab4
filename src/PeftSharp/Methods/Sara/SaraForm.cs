namespace PeftSharp.Methods.Sara;

/// <summary>The form of a SARA path [R].</summary>
public enum SaraForm
{
    /// <summary>Plain LoRA factors of rank k (A Kaiming-uniform, B = 0), scaling alpha / k.</summary>
    Lora,

    /// <summary>Singular-value form <c>s · P · diag(λ) · Q</c> (P, Q ~ N(0, 0.02²), λ = 0), scaling alpha / k.</summary>
    Svd,
}
