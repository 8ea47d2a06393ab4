using PeftSharp.Adapters;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>Hugging Face <c>BertForSequenceClassification</c>: <c>bert</c> (with pooler), dropout, <c>classifier</c>.</summary>
public sealed class BertForSequenceClassification : PretrainedModel
{
    private readonly BertModel bert;
    private readonly Dropout dropout;
    private readonly nn.Module<Tensor, Tensor> classifier;

    /// <summary>Creates the model with random weights.</summary>
    public BertForSequenceClassification(BertConfig config) : base(nameof(BertForSequenceClassification), config)
    {
        bert = new BertModel(config, addPoolingLayer: true);
        dropout = nn.Dropout(config.ClassifierDropout);
        classifier = nn.Linear(config.HiddenSize, config.Labels.Count);
        RegisterComponents();
    }

    /// <summary>The encoder (<c>bert</c>): its <see cref="BertModel.Forward"/> gives the last hidden state and the pooled output.</summary>
    public BertModel Bert => bert;

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.SequenceClassification;

    /// <inheritdoc />
    public override string ArchitectureName => "BertForSequenceClassification";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => ["classifier"];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (_, pooled) = bert.Forward(inputIds, attentionMask, tokenTypeIds);
        return classifier.forward(dropout.forward(pooled!)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name) =>
        name.StartsWith("cls.", StringComparison.Ordinal) || name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || name.EndsWith("embeddings.token_type_ids", StringComparison.Ordinal)
            ? null
            : name;
}

/// <summary>RoBERTa's classification head: <c>dense</c>, tanh, <c>out_proj</c> on the first token.</summary>
public sealed class RobertaClassificationHead : nn.Module<Tensor, Tensor>, ICloneableModule
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly Dropout dropout;
    private readonly nn.Module<Tensor, Tensor> out_proj;
    private readonly BertConfig _config;

    /// <summary>Creates the head.</summary>
    public RobertaClassificationHead(BertConfig config) : base(nameof(RobertaClassificationHead))
    {
        _config = config;
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.ClassifierDropout);
        out_proj = nn.Linear(config.HiddenSize, config.Labels.Count);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = dropout.forward(hidden[.., 0]);
        x = dropout.forward(dense.forward(x).tanh());
        return out_proj.forward(x).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> CloneModule()
    {
        var copy = new RobertaClassificationHead(_config);
        Adapters.ModuleCloner.CopyState(this, copy);
        return copy;
    }
}

/// <summary>Hugging Face <c>RobertaForSequenceClassification</c>: <c>roberta</c> (no pooler) and <c>classifier</c>.</summary>
public sealed class RobertaForSequenceClassification : PretrainedModel
{
    private readonly BertModel roberta;
    private readonly nn.Module<Tensor, Tensor> classifier;

    /// <summary>Creates the model with random weights.</summary>
    public RobertaForSequenceClassification(BertConfig config) : base(nameof(RobertaForSequenceClassification), config)
    {
        roberta = new BertModel(config, addPoolingLayer: false);
        classifier = new RobertaClassificationHead(config);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.SequenceClassification;

    /// <inheritdoc />
    public override string ArchitectureName => "RobertaForSequenceClassification";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => ["classifier.dense", "classifier.out_proj"];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (hidden, _) = roberta.Forward(inputIds, attentionMask, tokenTypeIds);
        return classifier.forward(hidden).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name) =>
        name.StartsWith("lm_head.", StringComparison.Ordinal) || name.StartsWith("roberta.pooler.", StringComparison.Ordinal) || name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || name.EndsWith("embeddings.token_type_ids", StringComparison.Ordinal)
            ? null
            : name;
}

/// <summary>BERT's masked-LM transform: <c>dense</c>, activation, <c>LayerNorm</c>.</summary>
public sealed class MaskedLMTransform : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly LayerNorm LayerNorm;
    private readonly string _activation;

    /// <summary>Creates the transform.</summary>
    public MaskedLMTransform(BertConfig config) : base(nameof(MaskedLMTransform))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.forward(Activations.Apply(_activation, dense.forward(hidden))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The masked-LM prediction head: <c>transform</c>, then logits against the (tied) word embeddings
/// plus <c>bias</c>. Registered as BERT's <c>cls.predictions</c>.
/// </summary>
public sealed class MaskedLMHead : nn.Module<Tensor, Tensor>
{
    private readonly MaskedLMTransform transform;
    private readonly Parameter bias;
    private readonly Func<Tensor> _decoderWeight;

    /// <summary>Creates the head; <paramref name="decoderWeight"/> returns the tied embedding table.</summary>
    public MaskedLMHead(BertConfig config, Func<Tensor> decoderWeight) : base(nameof(MaskedLMHead))
    {
        transform = new MaskedLMTransform(config);
        bias = nn.Parameter(zeros(config.VocabSize));
        _decoderWeight = decoderWeight;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return nn.functional.linear(transform.forward(hidden), _decoderWeight(), bias).MoveToOuterDisposeScope();
    }
}

/// <summary>BERT's <c>cls</c> wrapper holding <c>predictions</c>.</summary>
public sealed class BertOnlyMLMHead : nn.Module<Tensor, Tensor>
{
    private readonly MaskedLMHead predictions;

    /// <summary>Creates the wrapper.</summary>
    public BertOnlyMLMHead(MaskedLMHead head) : base(nameof(BertOnlyMLMHead))
    {
        predictions = head;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden) => predictions.forward(hidden);
}

/// <summary>Hugging Face <c>BertForMaskedLM</c>: <c>bert</c> (no pooler) and <c>cls.predictions</c> tied to the word embeddings.</summary>
public sealed class BertForMaskedLM : PretrainedModel
{
    private readonly BertModel bert;
    private readonly BertOnlyMLMHead cls;

    /// <summary>Creates the model with random weights.</summary>
    public BertForMaskedLM(BertConfig config) : base(nameof(BertForMaskedLM), config)
    {
        bert = new BertModel(config, addPoolingLayer: false);
        cls = new BertOnlyMLMHead(new MaskedLMHead(config, () => bert.Embeddings.WordEmbeddings));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.MaskedLanguageModeling;

    /// <inheritdoc />
    public override string ArchitectureName => "BertForMaskedLM";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => [];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (hidden, _) = bert.Forward(inputIds, attentionMask, tokenTypeIds);
        return cls.forward(hidden).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name) =>
        name.StartsWith("cls.predictions.decoder.", StringComparison.Ordinal) || name.StartsWith("bert.pooler.", StringComparison.Ordinal) ||
        name.StartsWith("cls.seq_relationship.", StringComparison.Ordinal) || name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || name.EndsWith("embeddings.token_type_ids", StringComparison.Ordinal)
            ? null
            : name;
}

/// <summary>Hugging Face <c>RobertaForMaskedLM</c>: <c>roberta</c> and <c>lm_head</c> (<c>dense</c>, <c>layer_norm</c>, <c>bias</c>) tied to the word embeddings.</summary>
public sealed class RobertaForMaskedLM : PretrainedModel
{
    private readonly BertModel roberta;
    private readonly RobertaLMHead lm_head;

    /// <summary>Creates the model with random weights.</summary>
    public RobertaForMaskedLM(BertConfig config) : base(nameof(RobertaForMaskedLM), config)
    {
        roberta = new BertModel(config, addPoolingLayer: false);
        lm_head = new RobertaLMHead(config, () => roberta.Embeddings.WordEmbeddings);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.MaskedLanguageModeling;

    /// <inheritdoc />
    public override string ArchitectureName => "RobertaForMaskedLM";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => [];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (hidden, _) = roberta.Forward(inputIds, attentionMask, tokenTypeIds);
        return lm_head.forward(hidden).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name) =>
        name.StartsWith("lm_head.decoder.", StringComparison.Ordinal) || name.StartsWith("roberta.pooler.", StringComparison.Ordinal) || name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || name.EndsWith("embeddings.token_type_ids", StringComparison.Ordinal)
            ? null
            : name;
}

/// <summary>RoBERTa's <c>lm_head</c>: <c>dense</c>, GELU, <c>layer_norm</c>, then logits against the tied word embeddings plus <c>bias</c>.</summary>
public sealed class RobertaLMHead : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> dense;
    private readonly LayerNorm layer_norm;
    private readonly Parameter bias;
    private readonly Func<Tensor> _decoderWeight;

    /// <summary>Creates the head; <paramref name="decoderWeight"/> returns the tied embedding table.</summary>
    public RobertaLMHead(BertConfig config, Func<Tensor> decoderWeight) : base(nameof(RobertaLMHead))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        bias = nn.Parameter(zeros(config.VocabSize));
        _decoderWeight = decoderWeight;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = layer_norm.forward(nn.functional.gelu(dense.forward(hidden)));
        return nn.functional.linear(x, _decoderWeight(), bias).MoveToOuterDisposeScope();
    }
}
