namespace PeftSharp.Adapters;

/// <summary>
/// Implemented by models that know their output head, so that <c>all-linear</c> targeting leaves it
/// out (PEFT uses the model's output embeddings, or the classifier for sequence classification).
/// </summary>
public interface IOutputHeadProvider
{
    /// <summary>Module names of the output head(s), for example <c>lm_head</c> or <c>classifier</c>.</summary>
    IReadOnlyList<string> OutputHeadNames { get; }
}
