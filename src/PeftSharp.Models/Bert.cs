using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>BERT/RoBERTa embeddings: word + position + token type, LayerNorm, dropout.</summary>
public sealed class BertEmbeddings : nn.Module
{
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    private readonly Embedding token_type_embeddings;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
    private readonly BertConfig _config;

    /// <summary>Creates the embeddings for <paramref name="config"/>.</summary>
    public BertEmbeddings(BertConfig config) : base(nameof(BertEmbeddings))
    {
        _config = config;
        word_embeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        token_type_embeddings = nn.Embedding(Math.Max(1, config.TypeVocabSize), config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropout);
        RegisterComponents();
    }

    /// <summary>The word embedding table (tied to masked-LM decoders).</summary>
    public Parameter WordEmbeddings => word_embeddings.weight!;

    /// <summary>Embeds <paramref name="inputIds"/> <c>(batch, T)</c> into <c>(batch, T, hidden)</c>.</summary>
    public Tensor Forward(Tensor inputIds, Tensor? tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var length = inputIds.shape[1];
        if (length > _config.MaxPositionEmbeddings - (_config.IsRoberta ? _config.PadTokenId + 1 : 0))
        {
            throw new ArgumentException($"sequence length {length} exceeds the model's {_config.MaxPositionEmbeddings} positions", nameof(inputIds));
        }

        Attention.CheckTokenIds(inputIds, _config.VocabSize);

        Tensor positions;
        if (_config.IsRoberta)
        {
            // RoBERTa numbers real tokens from padding_idx + 1 and gives padding the padding index.
            var real = inputIds.ne(_config.PadTokenId).to(ScalarType.Int64);
            positions = real.cumsum(1).mul(real).add(_config.PadTokenId);
        }
        else
        {
            positions = arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        }

        var types = tokenTypeIds ?? zeros_like(inputIds);
        var embedded = word_embeddings.forward(inputIds) + position_embeddings.forward(positions) + token_type_embeddings.forward(types);
        return dropout.forward(LayerNorm.forward(embedded)).MoveToOuterDisposeScope();
    }
}

/// <summary>Self-attention with <c>query</c>, <c>key</c>, <c>value</c> projections (adapter targets).</summary>
public sealed class BertSelfAttention : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> query;
    private readonly nn.Module<Tensor, Tensor> key;
    private readonly nn.Module<Tensor, Tensor> value;
    private readonly int _heads;
    private readonly double _dropout;

    /// <summary>Creates the projections.</summary>
    public BertSelfAttention(BertConfig config) : base(nameof(BertSelfAttention))
    {
        query = nn.Linear(config.HiddenSize, config.HiddenSize);
        key = nn.Linear(config.HiddenSize, config.HiddenSize);
        value = nn.Linear(config.HiddenSize, config.HiddenSize);
        _heads = config.NumAttentionHeads;
        _dropout = config.AttentionDropout;
        RegisterComponents();
    }

    /// <summary>Attends over <paramref name="hidden"/> with the additive <paramref name="mask"/>.</summary>
    public Tensor Forward(Tensor hidden, Tensor? mask) =>
        Attention.MultiHead(query.forward(hidden), key.forward(hidden), value.forward(hidden), _heads, mask, _dropout, training);
}

/// <summary><c>dense</c>, dropout, residual, <c>LayerNorm</c> (BertSelfOutput and BertOutput share this shape).</summary>
public sealed class BertResidualOutput : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    /// <summary>Creates the block for an input of <paramref name="inFeatures"/>.</summary>
    public BertResidualOutput(int inFeatures, BertConfig config) : base(nameof(BertResidualOutput))
    {
        dense = nn.Linear(inFeatures, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropout);
        RegisterComponents();
    }

    /// <summary><c>LayerNorm(dropout(dense(hidden)) + residual)</c>.</summary>
    public Tensor Forward(Tensor hidden, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.forward(dropout.forward(dense.forward(hidden)) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>Attention block: <c>self</c> and <c>output</c>.</summary>
public sealed class BertAttention : nn.Module
{
    private readonly BertSelfAttention self;
    private readonly BertResidualOutput output;

    /// <summary>Creates the block.</summary>
    public BertAttention(BertConfig config) : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(config);
        output = new BertResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    /// <summary>Post-LN attention with residual.</summary>
    public Tensor Forward(Tensor hidden, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        return output.Forward(self.Forward(hidden, mask), hidden).MoveToOuterDisposeScope();
    }
}

/// <summary>Feed-forward expansion: <c>dense</c> and the activation.</summary>
public sealed class BertIntermediate : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly string _activation;

    /// <summary>Creates the block.</summary>
    public BertIntermediate(BertConfig config) : base(nameof(BertIntermediate))
    {
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <summary><c>act(dense(hidden))</c>.</summary>
    public Tensor Forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return Activations.Apply(_activation, dense.forward(hidden)).MoveToOuterDisposeScope();
    }
}

/// <summary>One encoder layer: <c>attention</c>, <c>intermediate</c>, <c>output</c>.</summary>
public sealed class BertLayer : nn.Module
{
    private readonly BertAttention attention;
    private readonly BertIntermediate intermediate;
    private readonly BertResidualOutput output;

    /// <summary>Creates the layer.</summary>
    public BertLayer(BertConfig config) : base(nameof(BertLayer))
    {
        attention = new BertAttention(config);
        intermediate = new BertIntermediate(config);
        output = new BertResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    /// <summary>Runs the layer.</summary>
    public Tensor Forward(Tensor hidden, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var attended = attention.Forward(hidden, mask);
        return output.Forward(intermediate.Forward(attended), attended).MoveToOuterDisposeScope();
    }
}

/// <summary>The stack of layers, registered as <c>layer.0</c>, <c>layer.1</c>, ….</summary>
public sealed class BertEncoder : nn.Module
{
    private readonly ModuleList<BertLayer> layer;

    /// <summary>Creates the stack.</summary>
    public BertEncoder(BertConfig config) : base(nameof(BertEncoder))
    {
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config)).ToArray());
        RegisterComponents();
    }

    /// <summary>Runs every layer.</summary>
    public Tensor Forward(Tensor hidden, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        foreach (var block in layer)
        {
            hidden = block.Forward(hidden, mask);
        }

        return hidden.MoveToOuterDisposeScope();
    }
}

/// <summary>The pooler: <c>dense</c> and tanh on the first token.</summary>
public sealed class BertPooler : nn.Module<Tensor, Tensor>, Adapters.ICloneableModule
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly BertConfig _config;

    /// <summary>Creates the pooler.</summary>
    public BertPooler(BertConfig config) : base(nameof(BertPooler))
    {
        _config = config;
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> CloneModule()
    {
        var copy = new BertPooler(_config);
        Adapters.ModuleCloner.CopyState(this, copy);
        return copy;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return dense.forward(hidden[.., 0]).tanh().MoveToOuterDisposeScope();
    }
}

/// <summary>The BERT/RoBERTa backbone: <c>embeddings</c>, <c>encoder</c> and (optionally) <c>pooler</c>.</summary>
public sealed class BertModel : nn.Module
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly nn.Module<Tensor, Tensor>? pooler;

    /// <summary>Creates the backbone.</summary>
    public BertModel(BertConfig config, bool addPoolingLayer) : base(nameof(BertModel))
    {
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        pooler = addPoolingLayer ? new BertPooler(config) : null;
        RegisterComponents();
    }

    /// <summary>The configuration.</summary>
    public BertConfig Config { get; }

    /// <summary>The embeddings.</summary>
    public BertEmbeddings Embeddings => embeddings;

    /// <summary>The last hidden states <c>(batch, T, hidden)</c> and the pooled output (null without a pooler).</summary>
    public (Tensor Hidden, Tensor? Pooled) Forward(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var hidden = embeddings.Forward(inputIds, tokenTypeIds);
        var mask = Attention.AdditiveMask(attentionMask, inputIds.shape[1], causal: false, hidden.dtype, hidden.device);
        hidden = encoder.Forward(hidden, mask);
        var pooled = pooler?.forward(hidden);
        return (hidden.MoveToOuterDisposeScope(), pooled?.MoveToOuterDisposeScope());
    }
}
