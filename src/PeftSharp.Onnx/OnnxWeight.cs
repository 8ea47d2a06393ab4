namespace PeftSharp.Onnx;

/// <summary>One BERT weight in an ONNX graph.</summary>
/// <param name="Name">The Hugging Face name without the model prefix (for example <c>encoder.layer.0.attention.self.query.weight</c>).</param>
/// <param name="Initializer">The name of the ONNX initializer holding it (for example <c>onnx::MatMul_1234</c>).</param>
/// <param name="Transposed">True when the initializer holds the transpose (<c>(in, out)</c>, the MatMul layout) of the Hugging Face <c>(out, in)</c> weight.</param>
public sealed record OnnxWeight(string Name, string Initializer, bool Transposed);
