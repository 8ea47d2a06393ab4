namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>One evaluated example: the prompt, the reference completion and what the model generated (both trimmed).</summary>
/// <param name="Prompt">The prompt as given.</param>
/// <param name="Reference">The reference completion, surrounding whitespace trimmed.</param>
/// <param name="Generated">The generated completion (special tokens skipped, cut at the stop), surrounding whitespace trimmed.</param>
public sealed record GenerationSample(string Prompt, string Reference, string Generated);
