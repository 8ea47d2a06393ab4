using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>Hugging Face <c>DebertaV2ForSequenceClassification</c>: <c>deberta</c>, <c>pooler</c> (<see cref="ContextPooler"/>), dropout, <c>classifier</c>.</summary>
public sealed class DebertaV2ForSequenceClassification : PretrainedModel
{
    private readonly DebertaV2Model deberta;
    private readonly nn.Module<Tensor, Tensor> pooler;
    private readonly Dropout dropout;
    private readonly nn.Module<Tensor, Tensor> classifier;

    /// <summary>Creates the model with random weights.</summary>
    public DebertaV2ForSequenceClassification(DebertaV2Config config) : base(nameof(DebertaV2ForSequenceClassification), config)
    {
        ArgumentNullException.ThrowIfNull(config);
        deberta = new DebertaV2Model(config);
        pooler = new ContextPooler(config);
        dropout = nn.Dropout(config.ClassifierDropout);
        classifier = nn.Linear(config.HiddenSize, config.Labels.Count);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.SequenceClassification;

    /// <inheritdoc />
    public override string ArchitectureName => "DebertaV2ForSequenceClassification";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => ["classifier"];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var hidden = deberta.Forward(inputIds, attentionMask, tokenTypeIds);
        return classifier.forward(dropout.forward(pooler.forward(hidden))).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override string EquivalentTargetName(string bertName) => DebertaV2Names.EquivalentTarget(bertName);

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name) =>
        DebertaV2Names.IsIgnored(name, (DebertaV2Config)Config) || name.StartsWith("cls.", StringComparison.Ordinal) || name.StartsWith("lm_predictions.", StringComparison.Ordinal)
            ? null
            : name;
}
