namespace PeftSharp.Models.Decoders;

/// <summary>The RoPE frequency schemes supported (transformers' <c>rope_type</c>).</summary>
public enum RopeKind
{
    /// <summary><c>default</c>: <c>inv_freq = θ^(−2i/d)</c>.</summary>
    Default,

    /// <summary><c>linear</c>: positions divided by the factor.</summary>
    Linear,

    /// <summary><c>dynamic</c>: NTK-aware base growth once the sequence exceeds <c>max_position_embeddings</c>.</summary>
    Dynamic,

    /// <summary><c>llama3</c>: per-frequency scaling by wavelength (Llama 3.1+).</summary>
    Llama3,
}
