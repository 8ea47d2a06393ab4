namespace PeftSharp.Onnx;

/// <summary>The BERT configuration values read from an ONNX graph.</summary>
/// <param name="VocabSize">Rows of the word embedding table.</param>
/// <param name="HiddenSize">Width of the hidden states.</param>
/// <param name="NumHiddenLayers">Encoder layers.</param>
/// <param name="NumAttentionHeads">Attention heads (from the reshape constants).</param>
/// <param name="IntermediateSize">Feed-forward width.</param>
/// <param name="MaxPositionEmbeddings">Rows of the position table.</param>
/// <param name="TypeVocabSize">Rows of the token-type table.</param>
/// <param name="LayerNormEps">The layer-norm epsilon (from the graph constants).</param>
/// <param name="HiddenAct">The feed-forward activation (<c>gelu</c> for the erf form, <c>relu</c>).</param>
public sealed record BertOnnxSettings(
    int VocabSize,
    int HiddenSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int IntermediateSize,
    int MaxPositionEmbeddings,
    int TypeVocabSize,
    double LayerNormEps,
    string HiddenAct);
