using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// Evaluates a causal LM by generating: each prompt is encoded as <see cref="PromptEncoder.EncodePrompt"/>
/// does (the tokenizer's special tokens added), or, for a conversation, as <see cref="PromptEncoder.EncodeConversation"/>
/// does (the chat template's render with the generation prompt), continued greedily by <see cref="DecoderGenerator"/> in
/// left-padded batches for at most the reference's token count plus <see cref="GenerativeEvaluatorOptions.Margin"/>
/// tokens (stopping at end-of-sequence, and at a newline when the task is one line), decoded without
/// special tokens, trimmed, and scored by the task's <see cref="IGenerationMetric"/>s.
/// </summary>
public sealed class GenerativeEvaluator
{
    private readonly PromptEncoder _encoder;
    private readonly HfTokenizer _tokenizer;

    /// <summary>Creates an evaluator that encodes and decodes with <paramref name="encoder"/>'s tokenizer.</summary>
    /// <exception cref="ArgumentException">The encoder has no tokenizer.</exception>
    public GenerativeEvaluator(PromptEncoder encoder, GenerativeEvaluatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        _encoder = encoder;
        _tokenizer = encoder.Tokenizer ?? throw new ArgumentException($"generative evaluation needs a tokenizer ({HfTokenizer.TokenizerFileName}) beside the model", nameof(encoder));
        Options = options ?? new GenerativeEvaluatorOptions();
        Options.Validate();
    }

    /// <summary>The settings.</summary>
    public GenerativeEvaluatorOptions Options { get; }

    /// <summary>Generates for every example and computes the metrics; the model's training mode is restored afterwards.</summary>
    public GenerativeEvaluation Evaluate(DecoderForCausalLM model, IReadOnlyList<GenerationExample> examples)
    {
        var samples = Generate(model, examples);
        var metrics = Options.Metrics.ToDictionary(m => m.Name, m => m.Compute(samples), StringComparer.Ordinal);
        return new GenerativeEvaluation(metrics, [.. samples.Take(Options.SampleCount)], samples.Count);
    }

    /// <summary>Every example with its generation, in order.</summary>
    public List<GenerationSample> Generate(DecoderForCausalLM model, IReadOnlyList<GenerationExample> examples)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(examples);
        var training = model.training;
        var samples = new List<GenerationSample>(examples.Count);
        try
        {
            for (var start = 0; start < examples.Count; start += Options.BatchSize)
            {
                var batch = examples.Skip(start).Take(Options.BatchSize).ToList();
                var bounds = batch.Select(e => Math.Min(Options.MaxNewTokens, _tokenizer.Encode(e.Completion, addSpecialTokens: false).Length + Options.Margin)).ToList();
                var generation = new GenerationOptions
                {
                    MaxNewTokens = bounds.Max(),
                    BatchSize = batch.Count,
                    StopStrings = Options.StopAtNewline ? ["\n"] : [],
                };

                // Greedy rows are independent: cutting a row to its own bound equals generating it with that bound.
                var outputs = DecoderGenerator.Generate(model, [.. batch.Select(Encode)], generation, LastToken);
                samples.AddRange(batch.Select((e, i) => new GenerationSample(e.Prompt, e.Completion.Trim(), Completion(outputs[i].Take(bounds[i])))));
            }
        }
        finally
        {
            model.train(training);
        }

        return samples;
    }

    /// <summary>The prompt ids of <paramref name="example"/>: its conversation rendered by the chat template with the generation prompt, else its prompt with the tokenizer's special tokens.</summary>
    private long[] Encode(GenerationExample example) =>
        example.Messages is { } messages ? _encoder.EncodeConversation(messages) : _encoder.EncodePrompt(example.Prompt);

    /// <summary>
    /// The text of the newest token, for the newline stop: a newline is one byte and so lies whole in
    /// one token, and checking each new token as it comes finds it as decoding the whole output every step would.
    /// </summary>
    private string LastToken(IReadOnlyList<long> ids) => ids.Count == 0 ? "" : Decode([ids[^1]]);

    private string Decode(IReadOnlyList<long> ids) => _tokenizer.Decode(ids.Select(id => (int)id), skipSpecialTokens: true);

    /// <summary>The text of generated ids: special tokens skipped, cut at the first newline for one-line tasks, trimmed.</summary>
    private string Completion(IEnumerable<long> ids)
    {
        var text = Decode([.. ids]);
        var newline = Options.StopAtNewline ? text.IndexOf('\n', StringComparison.Ordinal) : -1;
        return (newline >= 0 ? text[..newline] : text).Trim();
    }
}
