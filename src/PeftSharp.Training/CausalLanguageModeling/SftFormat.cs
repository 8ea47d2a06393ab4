namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>The JSONL record formats of supervised fine-tuning (TRL's dataset formats); one file holds one format.</summary>
public enum SftFormat
{
    /// <summary><c>{"text": …}</c>: plain language modelling, every token supervised.</summary>
    Text,

    /// <summary><c>{"prompt": …, "completion": …}</c>: the loss is on the completion (and the EOS after it) only.</summary>
    PromptCompletion,

    /// <summary><c>{"messages": [{"role", "content"}, …]}</c>: rendered with the model's chat template; the loss is on the assistant turns only.</summary>
    Messages,
}
