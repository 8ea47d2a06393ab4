namespace PeftSharp.Models;

/// <summary>
/// An architecture <c>peft pretrain</c> can build from scratch: an encoder pretrained as a masked
/// LM (<see cref="MaskedLMArchitecture"/>) or a decoder pretrained as a causal LM
/// (<see cref="LlamaArchitecture"/>).
/// </summary>
public abstract class PretrainingArchitecture
{
    private protected PretrainingArchitecture()
    {
    }

    /// <summary>Every architecture, by <see cref="Name"/>: <c>bert</c>, <c>deberta</c>, <c>llama</c>.</summary>
    /// <remarks>Built on each call, so that no type initialiser depends on another's order.</remarks>
    public static IReadOnlyList<PretrainingArchitecture> All => [MaskedLMArchitecture.Bert, MaskedLMArchitecture.Deberta, LlamaArchitecture.Instance];

    /// <summary>The short name (<c>bert</c>, <c>deberta</c>, <c>llama</c>).</summary>
    public abstract string Name { get; }

    /// <summary>What the pretrained model predicts: masked tokens or the next token.</summary>
    public abstract ModelTask Objective { get; }

    /// <summary>The architecture called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static PretrainingArchitecture? Find(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>True for the parameters of normalisation layers (LayerNorm, RMSNorm) of this architecture.</summary>
    private protected abstract bool IsNormParameter(string name);

    /// <summary>
    /// BERT's and Llama's initialisation of a model built from scratch: weights ~ N(0, 0.02), biases 0,
    /// norm weights 1 and norm biases 0 (norm parameters are those <see cref="IsNormParameter"/> names).
    /// </summary>
    private protected void InitializeNormal(PretrainedModel model)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            var bias = name.EndsWith(".bias", StringComparison.Ordinal);
            if (IsNormParameter(name) && !bias)
            {
                parameter.fill_(1.0);
            }
            else if (bias || IsNormParameter(name))
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
