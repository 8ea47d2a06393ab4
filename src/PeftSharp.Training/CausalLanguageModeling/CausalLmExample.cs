namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// One tokenized causal-LM training example as the model sees it: the token ids and, per position,
/// the label (the same id where the token is supervised, <see cref="CausalLmLoss.IgnoreIndex"/>
/// where it is not). The loss shifts the labels, so <c>Labels[t]</c> is predicted from the tokens
/// before <c>t</c>.
/// </summary>
/// <param name="InputIds">Token ids, BOS and EOS included where the format adds them.</param>
/// <param name="Labels">Labels of the same length: the id or −100.</param>
public sealed record CausalLmExample(long[] InputIds, long[] Labels)
{
    /// <summary>Tokens in the example.</summary>
    public int Length => InputIds.Length;

    /// <summary>How many positions are supervised.</summary>
    public int SupervisedCount => Labels.Count(label => label != CausalLmLoss.IgnoreIndex);
}
