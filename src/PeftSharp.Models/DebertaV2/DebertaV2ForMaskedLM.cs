using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// Hugging Face <c>DebertaV2ForMaskedLM</c>: <c>deberta</c> and a head tied to the word embeddings,
/// registered as <c>cls.predictions</c> (config <c>legacy</c> true, the default) or
/// <c>lm_predictions.lm_head</c> (<c>legacy</c> false). Checkpoints of either layout load into either.
/// </summary>
public sealed class DebertaV2ForMaskedLM : PretrainedModel
{
    private readonly DebertaV2Model deberta;
    private readonly nn.Module<Tensor, Tensor>? cls;
    private readonly nn.Module<Tensor, Tensor>? lm_predictions;

    /// <summary>Creates the model with random weights.</summary>
    public DebertaV2ForMaskedLM(DebertaV2Config config) : base(nameof(DebertaV2ForMaskedLM), config)
    {
        ArgumentNullException.ThrowIfNull(config);
        deberta = new DebertaV2Model(config);
        if (config.Legacy)
        {
            cls = new DebertaV2LegacyMLMHead(new DebertaV2LegacyPredictionHead(config, () => deberta.Embeddings.WordEmbeddings));
        }
        else
        {
            lm_predictions = new DebertaV2OnlyMLMHead(new DebertaV2LMPredictionHead(config, () => deberta.Embeddings.WordEmbeddings));
        }

        RegisterComponents();
    }

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.MaskedLanguageModeling;

    /// <inheritdoc />
    public override string ArchitectureName => "DebertaV2ForMaskedLM";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => [];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var hidden = deberta.Forward(inputIds, attentionMask, tokenTypeIds);
        return (cls ?? lm_predictions)!.forward(hidden).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override string EquivalentTargetName(string bertName) => DebertaV2Names.EquivalentTarget(bertName);

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name)
    {
        var config = (DebertaV2Config)Config;
        return DebertaV2Names.IsIgnored(name, config) || name.StartsWith("pooler.", StringComparison.Ordinal)
            ? null
            : DebertaV2Names.MapMaskedLMHead(name, config.Legacy);
    }
}
