namespace PeftSharp.Models;

/// <summary>The sizes and special ids of a decoder built from scratch (see <see cref="LlamaArchitecture.Create"/>).</summary>
/// <param name="VocabularySize">Vocabulary size (the tokenizer's, special tokens included).</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Heads">Query heads (dividing <paramref name="Hidden"/>).</param>
/// <param name="KeyValueHeads">Key/value heads (dividing <paramref name="Heads"/>; fewer is grouped-query attention).</param>
/// <param name="IntermediateSize">The SwiGLU feed-forward width.</param>
/// <param name="MaxPositions">The context length written as <c>max_position_embeddings</c>.</param>
/// <param name="BosTokenId">The beginning-of-sequence id written to the config.</param>
/// <param name="EosTokenIds">The ids that end generation (the first is the tokenizer's end-of-turn token).</param>
/// <param name="PadTokenId">The padding id (not one of <paramref name="EosTokenIds"/>).</param>
public sealed record DecoderShape(int VocabularySize, int Hidden, int Layers, int Heads, int KeyValueHeads, int IntermediateSize, int MaxPositions, int BosTokenId, IReadOnlyList<int> EosTokenIds, int PadTokenId)
{
    /// <summary>RoPE base (Llama 2's 10,000).</summary>
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>RMSNorm epsilon (Llama's 1e-5).</summary>
    public double RmsNormEps { get; init; } = 1e-5;

    /// <summary>Whether the output head reuses the embedding table (one tensor, no <c>lm_head.weight</c> in the checkpoint).</summary>
    public bool TieWordEmbeddings { get; init; } = true;
}
