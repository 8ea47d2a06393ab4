namespace PeftSharp.Models.Decoders;

/// <summary>The decoder architectures <see cref="DecoderForCausalLM"/> implements, by Hugging Face <c>model_type</c>.</summary>
public enum DecoderFamily
{
    /// <summary><c>llama</c>: Llama 2/3/3.1/3.2, SmolLM2, TinyLlama.</summary>
    Llama,

    /// <summary><c>mistral</c>: Llama plus <c>sliding_window</c>.</summary>
    Mistral,

    /// <summary><c>qwen2</c>: q/k/v bias; sliding window only with <c>use_sliding_window</c>.</summary>
    Qwen2,

    /// <summary><c>qwen3</c>: per-head <c>q_norm</c>/<c>k_norm</c> before RoPE.</summary>
    Qwen3,

    /// <summary><c>phi3</c>: fused <c>qkv_proj</c> and <c>gate_up_proj</c>.</summary>
    Phi3,
}
