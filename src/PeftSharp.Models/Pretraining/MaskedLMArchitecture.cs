namespace PeftSharp.Models;

/// <summary>
/// An encoder architecture that can be pretrained from scratch as a masked LM: builds a randomly
/// initialised <see cref="ModelTask.MaskedLanguageModeling"/> model of a given
/// <see cref="MaskedLMShape"/> whose <c>config.json</c> is that architecture's Hugging Face form.
/// </summary>
public abstract class MaskedLMArchitecture
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

    /// <summary>Every architecture, by <see cref="Name"/>.</summary>
    public static IReadOnlyList<MaskedLMArchitecture> All { get; } = [Bert, Deberta];

    /// <summary>The short name (<c>bert</c>, <c>deberta</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The architecture called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static MaskedLMArchitecture? Find(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>A randomly initialised masked-LM model of <paramref name="shape"/> (weights ~ N(0, 0.02), LayerNorm 1, biases 0).</summary>
    public PretrainedModel Create(MaskedLMShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var model = Build(shape);
        InitializeLikeBert(model);
        return model;
    }

    /// <summary>Builds the model (with its default initialisation) from <paramref name="shape"/>.</summary>
    private protected abstract PretrainedModel Build(MaskedLMShape shape);

    /// <inheritdoc />
    public override string ToString() => Name;

    private static void InitializeLikeBert(PretrainedModel model)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.Contains("LayerNorm.weight", StringComparison.Ordinal))
            {
                parameter.fill_(1.0);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
            else
            {
                parameter.normal_(0, 0.02);
            }
        }
    }
}
