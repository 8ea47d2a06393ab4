using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// DeBERTa-v2 embeddings: word embeddings, plus absolute positions when <c>position_biased_input</c>
/// and token types when <c>type_vocab_size</c> &gt; 0 (otherwise given token type ids are ignored,
/// as Hugging Face does: DeBERTa-v3 tokenizers emit them for pairs), projected by <c>embed_proj</c> when
/// <c>embedding_size</c> ≠ <c>hidden_size</c>, then <c>LayerNorm</c>, the padding mask and dropout.
/// </summary>
public sealed class DebertaV2Embeddings : nn.Module
{
    private readonly Embedding word_embeddings;
    private readonly Embedding? position_embeddings;
    private readonly Embedding? token_type_embeddings;
    private readonly nn.Module<Tensor, Tensor>? embed_proj;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
    private readonly DebertaV2Config _config;

    /// <summary>Creates the embeddings for <paramref name="config"/>.</summary>
    public DebertaV2Embeddings(DebertaV2Config config) : base(nameof(DebertaV2Embeddings))
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        word_embeddings = nn.Embedding(config.VocabSize, config.EmbeddingSize, padding_idx: config.PadTokenId);
        position_embeddings = config.PositionBiasedInput ? nn.Embedding(config.MaxPositionEmbeddings, config.EmbeddingSize) : null;
        token_type_embeddings = config.TypeVocabSize > 0 ? nn.Embedding(config.TypeVocabSize, config.EmbeddingSize) : null;
        embed_proj = config.EmbeddingSize != config.HiddenSize ? nn.Linear(config.EmbeddingSize, config.HiddenSize, hasBias: false) : null;
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropout);
        RegisterComponents();
    }

    /// <summary>The word embedding table (tied to the masked-LM decoder).</summary>
    public Parameter WordEmbeddings => word_embeddings.weight!;

    /// <summary>Embeds <paramref name="inputIds"/> <c>(batch, T)</c> into <c>(batch, T, hidden)</c>; padded positions (mask 0) become zero.</summary>
    public Tensor Forward(Tensor inputIds, Tensor? tokenTypeIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var length = inputIds.shape[1];
        if (position_embeddings is not null && length > _config.MaxPositionEmbeddings)
        {
            throw new ArgumentException($"sequence length {length} exceeds the model's {_config.MaxPositionEmbeddings} positions", nameof(inputIds));
        }

        Attention.CheckTokenIds(inputIds, _config.VocabSize);
        var embedded = word_embeddings.forward(inputIds);
        if (position_embeddings is not null)
        {
            embedded = embedded + position_embeddings.forward(arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0));
        }

        if (token_type_embeddings is not null)
        {
            if (tokenTypeIds is not null)
            {
                Attention.CheckTokenIds(tokenTypeIds, _config.TypeVocabSize);
            }

            embedded = embedded + token_type_embeddings.forward(tokenTypeIds ?? zeros_like(inputIds));
        }

        if (embed_proj is not null)
        {
            embedded = embed_proj.forward(embedded);
        }

        embedded = LayerNorm.forward(embedded);
        if (attentionMask is not null)
        {
            embedded = embedded * attentionMask.unsqueeze(-1).to(embedded.dtype);
        }

        return dropout.forward(embedded).MoveToOuterDisposeScope();
    }
}
