namespace PeftSharp.Adapters;

/// <summary>
/// Implemented by models that know their Hugging Face <c>model_type</c> (<c>bert</c>, <c>gpt2</c>, ...),
/// so that a config without <c>target_modules</c> gets PEFT's default targets for that architecture.
/// </summary>
public interface IModelTypeProvider
{
    /// <summary>The Hugging Face <c>model_type</c>.</summary>
    string ModelType { get; }
}

/// <summary>PEFT's default LoRA targets per architecture, used when a config leaves <c>target_modules</c> unset.</summary>
public static class DefaultTargetModules
{
    private static readonly Dictionary<string, string[]> Defaults = new(StringComparer.OrdinalIgnoreCase)
    {
        ["bert"] = ["query", "value"],
        ["roberta"] = ["query", "value"],
        ["xlm-roberta"] = ["query", "value"],
        ["deberta"] = ["in_proj"],
        ["deberta-v2"] = ["query_proj", "value_proj"],
        ["gpt2"] = ["c_attn"],
        ["llama"] = ["q_proj", "v_proj"],
        ["mistral"] = ["q_proj", "v_proj"],
        ["qwen2"] = ["q_proj", "v_proj"],
        ["qwen3"] = ["q_proj", "v_proj"],
        ["t5"] = ["q", "v"],
    };

    /// <summary>The default targets for <paramref name="modelType"/>, or null when PEFT has none.</summary>
    public static TargetModules? For(string modelType) =>
        Defaults.TryGetValue(modelType, out var names) ? TargetModules.FromNames(names) : null;
}
