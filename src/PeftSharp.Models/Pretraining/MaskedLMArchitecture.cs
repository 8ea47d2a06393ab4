namespace PeftSharp.Models;

/// <summary>
/// An encoder architecture that can be pretrained from scratch as a masked LM: builds a randomly
/// initialised <see cref="ModelTask.MaskedLanguageModeling"/> model of a given
/// <see cref="MaskedLMShape"/> whose <c>config.json</c> is that architecture's Hugging Face form.
/// </summary>
public abstract class MaskedLMArchitecture : PretrainingArchitecture
{
    private protected MaskedLMArchitecture()
    {
    }

    /// <summary>BERT (<c>BertForMaskedLM</c>): absolute positions, two token types.</summary>
    public static MaskedLMArchitecture Bert { get; } = new BertMaskedLMArchitecture();

    /// <summary>
    /// DeBERTa-v3 style (<c>DebertaV2ForMaskedLM</c>): disentangled relative attention with log position
    /// buckets, shared attention key, <c>p2c|c2p</c>, LayerNorm on the relative embeddings, no absolute
    /// positions and no token types.
    /// </summary>
    public static MaskedLMArchitecture Deberta { get; } = new DebertaV2MaskedLMArchitecture();

    /// <inheritdoc />
    public override ModelTask Objective => ModelTask.MaskedLanguageModeling;

    /// <summary>The masked-LM architecture called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static new MaskedLMArchitecture? Find(string name) => PretrainingArchitecture.Find(name) as MaskedLMArchitecture;

    /// <summary>A randomly initialised masked-LM model of <paramref name="shape"/> (weights ~ N(0, 0.02), LayerNorm 1, biases 0).</summary>
    public PretrainedModel Create(MaskedLMShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var model = Build(shape);
        InitializeNormal(model);
        return model;
    }

    /// <inheritdoc />
    private protected override bool IsNormParameter(string name) => name.Contains("LayerNorm", StringComparison.Ordinal);

    /// <summary>Builds the model (with its default initialisation) from <paramref name="shape"/>.</summary>
    private protected abstract PretrainedModel Build(MaskedLMShape shape);
}
