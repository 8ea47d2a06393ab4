using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Chat;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>What a causal-LM pretraining run reached.</summary>
/// <param name="TrainingLoss">Mean training loss of the last 50 steps.</param>
/// <param name="ValidationLoss">Mean next-token loss on the held-out documents.</param>
/// <param name="Perplexity">exp(<paramref name="ValidationLoss"/>).</param>
/// <param name="TrainingTokens">Tokens in the packed training sequences.</param>
/// <param name="ValidationTokens">Tokens in the packed validation sequences.</param>
/// <param name="Parameters">Parameters of the model (the tied embedding counted once).</param>
public sealed record CausalLMPretrainResult(double TrainingLoss, double ValidationLoss, double Perplexity, long TrainingTokens, long ValidationTokens, long Parameters);

/// <summary>
/// Pretrains a small Llama decoder (<see cref="LlamaArchitecture"/>) from scratch as a causal LM:
/// holds out a share of the documents for validation, trains a byte-level BPE vocabulary with ChatML
/// special tokens on the rest (<see cref="ChatTokenizerFiles"/>), packs each split into rows of
/// documents joined by <c>&lt;|endoftext|&gt;</c>, trains with the next-token loss on the shared
/// <see cref="PretrainingLoop"/>, reports validation perplexity and writes a Hugging Face model
/// directory: <c>config.json</c>, fp32 <c>model.safetensors</c>, <c>generation_config.json</c>,
/// <c>tokenizer.json</c> and <c>tokenizer_config.json</c> with the chat template. A share of the
/// training documents (<see cref="PretrainOptions.ChatShare"/>) is rendered as a one-turn
/// conversation with that template, so the chat tokens and the end of a turn are learnt too.
/// </summary>
public static class CausalLMPretrainer
{
    /// <summary>Runs the pretraining and writes the model to <paramref name="outputDirectory"/>.</summary>
    /// <exception cref="ArgumentException">The options do not name <see cref="LlamaArchitecture"/>, or the corpus is too small for one training and one validation sequence.</exception>
    /// <exception cref="TrainingCanceledException"><paramref name="cancellationToken"/> was cancelled (the model is not saved).</exception>
    public static CausalLMPretrainResult Run(IReadOnlyList<string> texts, string outputDirectory, PretrainOptions options, TextWriter log, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        var architecture = options.Architecture as LlamaArchitecture
            ?? throw new ArgumentException($"{options.Architecture.Name} is not a causal-LM architecture (use {nameof(MaskedLMPretrainer)})", nameof(options));
        var clock = Stopwatch.StartNew();
        manual_seed(options.Seed);
        var (trainTexts, validationTexts) = Split(texts, options.ValidationShare, options.Seed);
        var maxPositions = Math.Max(options.MaxPositions, options.SequenceLength);
        var vocabularySize = ChatTokenizerFiles.Write(outputDirectory, trainTexts, options.VocabularySize, maxPositions);
        var tokenizer = HfTokenizer.Load(outputDirectory);
        var endOfText = tokenizer.TokenToId(ChatTokenizerFiles.EndOfText)!.Value;
        var template = ChatTemplate.Load(outputDirectory);
        var chatRandom = new Random(options.Seed + 2);
        var documents = trainTexts.Select(text => chatRandom.NextDouble() < options.ChatShare ? AsConversation(text, template) ?? text : text).ToList();
        var train = Pack(documents, tokenizer, endOfText, options.SequenceLength);
        var validation = Pack(validationTexts, tokenizer, endOfText, options.SequenceLength);
        if (validation.Count == 0)
        {
            throw new ArgumentException($"the {validationTexts.Count} held-out documents are shorter than one sequence of {options.SequenceLength} tokens; raise {nameof(PretrainOptions.ValidationShare)}", nameof(texts));
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"byte-level BPE vocabulary {vocabularySize} tokens; {trainTexts.Count} training documents ({documents.Count(d => d.StartsWith(ChatTokenizerFiles.TurnStart, StringComparison.Ordinal))} as one-turn conversations) -> {train.Count} sequences of {options.SequenceLength} tokens; {validationTexts.Count} validation documents -> {validation.Count} sequences ({clock.Elapsed.TotalSeconds:F0} s)"));

        var shape = new DecoderShape(
            vocabularySize, options.Hidden, options.Layers, options.Heads, options.KeyValueHeads ?? options.Heads,
            options.IntermediateSize ?? SwiGluWidth(options.Hidden), maxPositions,
            BosTokenId: endOfText,
            EosTokenIds: [tokenizer.EosTokenIds[0], endOfText],
            PadTokenId: tokenizer.PadTokenId!.Value);
        using var model = architecture.Create(shape);
        var parameters = model.parameters().Sum(p => p.numel());
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"llama {model.ArchitectureName}: {shape.Layers} layers, hidden {shape.Hidden}, {shape.Heads} heads ({shape.KeyValueHeads} key/value), intermediate {shape.IntermediateSize}, vocabulary {shape.VocabularySize}, tied embeddings; {parameters:N0} parameters"));
        var task = new CausalLanguageModelingTask(model, train, options.SequenceLength, options.BatchSize, options.Seed);
        var outcome = PretrainingLoop.Run(model, task, options, log, progress, cancellationToken);
        var (validationLoss, perplexity) = CausalLanguageModelingTask.Validate(model, validation, options.BatchSize);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"validation: loss {validationLoss:F4}, perplexity {perplexity:F2} over {validation.Count * (options.SequenceLength - 1):N0} predicted tokens"));
        model.eval();
        model.SavePretrained(outputDirectory, ScalarType.Float32);
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, GenerationConfig.FileName), GenerationConfigJson(shape));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"saved to {outputDirectory} in {clock.Elapsed.TotalMinutes:F1} min"));
        return new CausalLMPretrainResult(outcome.Losses.TakeLast(50).Average(), validationLoss, perplexity, (long)train.Count * options.SequenceLength, (long)validation.Count * options.SequenceLength, parameters);
    }

    /// <summary>
    /// Packs <paramref name="texts"/> into rows of exactly <paramref name="length"/> tokens: each
    /// document's tokens (no special tokens added) followed by <paramref name="separator"/>, one
    /// stream cut into consecutive rows; the last partial row is dropped.
    /// </summary>
    public static List<long[]> Pack(IEnumerable<string> texts, HfTokenizer tokenizer, int separator, int length)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var stream = new List<long>();
        foreach (var text in texts)
        {
            stream.AddRange(tokenizer.Encode(text, addSpecialTokens: false).Select(id => (long)id));
            stream.Add(separator);
        }

        var rows = new List<long[]>();
        for (var start = 0; start + length <= stream.Count; start += length)
        {
            rows.Add([.. stream.GetRange(start, length)]);
        }

        return rows;
    }

    /// <summary>
    /// Splits the documents: a seeded shuffle picks <c>ceil(share × count)</c> of them (at least one
    /// when the share is positive and there are two or more) for validation; both parts keep the corpus order.
    /// </summary>
    public static (List<string> Train, List<string> Validation) Split(IReadOnlyList<string> texts, double share, int seed)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (share is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(share), share, "the validation share must be in [0, 1)");
        }

        var count = share == 0 || texts.Count < 2 ? 0 : Math.Clamp((int)Math.Ceiling(share * texts.Count), 1, texts.Count - 1);
        var order = Enumerable.Range(0, texts.Count).ToArray();
        new Random(seed).Shuffle(order);
        var held = order.Take(count).ToHashSet();
        return ([.. texts.Where((_, i) => !held.Contains(i))], [.. texts.Where((_, i) => held.Contains(i))]);
    }

    /// <summary>
    /// <paramref name="text"/> as a one-turn conversation rendered with <paramref name="template"/>:
    /// its first sentence (ending in <c>.</c>, <c>?</c> or <c>!</c> and a space, within the first 400
    /// characters) as the user's message and the rest as the assistant's; null when there is no such sentence.
    /// </summary>
    public static string? AsConversation(string text, ChatTemplate template)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(template);
        var cut = -1;
        for (var i = 20; i + 1 < Math.Min(text.Length, 400); i++)
        {
            if (text[i] is '.' or '?' or '!' && text[i + 1] is ' ')
            {
                cut = i + 1;
                break;
            }
        }

        var rest = cut < 0 ? string.Empty : text[(cut + 1)..].Trim();
        if (rest.Length == 0)
        {
            return null;
        }

        return template.Render([new JsonObject { ["role"] = "user", ["content"] = text[..cut] }, new JsonObject { ["role"] = "assistant", ["content"] = rest }], addGenerationPrompt: false);
    }

    /// <summary>Llama's SwiGLU width for <paramref name="hidden"/>: 8/3 × hidden rounded up to a multiple of 16.</summary>
    public static int SwiGluWidth(int hidden) => (int)Math.Ceiling(8.0 * hidden / 3 / 16) * 16;

    private static string GenerationConfigJson(DecoderShape shape) => new JsonObject
    {
        ["bos_token_id"] = shape.BosTokenId,
        ["eos_token_id"] = new JsonArray([.. shape.EosTokenIds.Select(id => (JsonNode)id)]),
        ["pad_token_id"] = shape.PadTokenId,
    }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
}
