namespace PeftSharp.Models;

/// <summary>The sizes of a masked-LM encoder built from scratch (see <see cref="MaskedLMArchitecture.Create"/>).</summary>
/// <param name="VocabularySize">Vocabulary size.</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="Layers">Encoder layers.</param>
/// <param name="Heads">Attention heads (dividing <paramref name="Hidden"/>).</param>
/// <param name="MaxSequenceLength">The longest sequence the model is trained on (position table or relative span).</param>
/// <param name="PadTokenId">The padding token id.</param>
public sealed record MaskedLMShape(int VocabularySize, int Hidden, int Layers, int Heads, int MaxSequenceLength, int PadTokenId = 0)
{
    /// <summary>The feed-forward size (four times <see cref="Hidden"/> unless set).</summary>
    public int IntermediateSize { get; init; } = 4 * Hidden;
}
