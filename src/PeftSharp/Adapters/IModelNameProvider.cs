namespace PeftSharp.Adapters;

/// <summary>
/// Implemented by models that know where they came from (transformers' <c>name_or_path</c>), so that
/// an adapter injected into them records it as <c>base_model_name_or_path</c>, as PEFT does.
/// </summary>
public interface IModelNameProvider
{
    /// <summary>The Hugging Face id or the directory name of the base model, or null when unknown.</summary>
    string? NameOrPath { get; }
}
