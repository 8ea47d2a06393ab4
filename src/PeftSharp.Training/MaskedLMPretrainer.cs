using System.Diagnostics;
using PeftSharp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>Settings of a masked-LM pretraining run.</summary>
public sealed record PretrainOptions
{
    /// <summary>Vocabulary size of the WordPiece vocabulary to build.</summary>
    public int VocabularySize { get; init; } = 6000;

    /// <summary>Encoder layers.</summary>
    public int Layers { get; init; } = 4;

    /// <summary>Hidden size.</summary>
    public int Hidden { get; init; } = 256;

    /// <summary>Attention heads.</summary>
    public int Heads { get; init; } = 4;

    /// <summary>Sequence length (and position table size).</summary>
    public int SequenceLength { get; init; } = 128;

    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 3000;

    /// <summary>Peak learning rate (linear warm-up over 6 % of the steps, at least one, then linear decay to 0).</summary>
    public double LearningRate { get; init; } = 7e-4;

    /// <summary>Share of tokens selected for prediction (80 % [MASK], 10 % random, 10 % kept).</summary>
    public double MaskProbability { get; init; } = 0.15;

    /// <summary>Seed of every random choice.</summary>
    public int Seed { get; init; }

    /// <summary>The architecture to pretrain (<see cref="MaskedLMArchitecture.Bert"/> by default): a masked-LM encoder for <see cref="MaskedLMPretrainer"/>, <see cref="LlamaArchitecture"/> for <see cref="CausalLMPretrainer"/>.</summary>
    public PretrainingArchitecture Architecture { get; init; } = MaskedLMArchitecture.Bert;

    /// <summary>Key/value heads of a decoder (null: as many as <see cref="Heads"/>; fewer is grouped-query attention).</summary>
    public int? KeyValueHeads { get; init; }

    /// <summary>The feed-forward width (null: 4 × hidden for encoders, 8/3 × hidden rounded up to a multiple of 16 for SwiGLU decoders).</summary>
    public int? IntermediateSize { get; init; }

    /// <summary>The context length a decoder is configured for (<c>max_position_embeddings</c>; at least <see cref="SequenceLength"/>).</summary>
    public int MaxPositions { get; init; } = 512;

    /// <summary>Share of the documents held out for validation perplexity (causal LM).</summary>
    public double ValidationShare { get; init; } = 0.05;

    /// <summary>Share of the training documents a causal LM sees as one-turn conversations in its chat template (the first sentence from the user, the rest from the assistant).</summary>
    public double ChatShare { get; init; }

    /// <summary>Log a line every this many steps.</summary>
    public int LogEvery { get; init; } = 100;

    /// <summary>Checks every setting before a run starts.</summary>
    /// <exception cref="PeftConfigurationException">A setting is out of range; <see cref="PeftConfigurationException.Setting"/> names the property.</exception>
    public void Validate()
    {
        static void Require(bool condition, string name, string expected, object value)
        {
            if (!condition)
            {
                var problem = $"must be {expected}, got {Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)}";
                throw new PeftConfigurationException($"pretraining option {name} {problem}", name, problem);
            }
        }

        // Ids 0-4 are the special tokens; masking draws random tokens from 5 up.
        Require(VocabularySize >= 6, nameof(VocabularySize), "at least 6", VocabularySize);
        Require(Layers >= 1, nameof(Layers), "at least 1", Layers);
        Require(Heads >= 1, nameof(Heads), "at least 1", Heads);
        Require(Hidden >= 1 && Hidden % Heads == 0, nameof(Hidden), $"a positive multiple of the head count {Heads}", Hidden);
        Require(SequenceLength >= 3, nameof(SequenceLength), "at least 3", SequenceLength);
        Require(BatchSize >= 1, nameof(BatchSize), "at least 1", BatchSize);
        Require(Steps >= 1, nameof(Steps), "at least 1", Steps);
        Require(double.IsFinite(LearningRate) && LearningRate >= 0, nameof(LearningRate), "a finite number ≥ 0", LearningRate);
        Require(MaskProbability is > 0 and < 1, nameof(MaskProbability), "in (0, 1)", MaskProbability);
        Require(KeyValueHeads is null || (KeyValueHeads >= 1 && Heads % KeyValueHeads == 0), nameof(KeyValueHeads), $"a divisor of the head count {Heads}", KeyValueHeads ?? 0);
        Require(IntermediateSize is null || IntermediateSize >= 1, nameof(IntermediateSize), "at least 1", IntermediateSize ?? 0);
        Require(MaxPositions >= SequenceLength, nameof(MaxPositions), $"at least the sequence length {SequenceLength}", MaxPositions);
        Require(ValidationShare is >= 0 and < 1, nameof(ValidationShare), "in [0, 1)", ValidationShare);
        Require(ChatShare is >= 0 and <= 1, nameof(ChatShare), "in [0, 1]", ChatShare);
        Require(LogEvery >= 1, nameof(LogEvery), "at least 1", LogEvery);
    }
}

/// <summary>
/// Pretrains a small masked-LM encoder (<see cref="PretrainOptions.Architecture"/>: BERT's
/// <c>BertForMaskedLM</c> or a DeBERTa-v3 style <c>DebertaV2ForMaskedLM</c>) from scratch on a text
/// corpus: builds a WordPiece vocabulary, packs the tokenized corpus into fixed-length sequences, and
/// trains with BERT's masking recipe. The result is a Hugging Face model directory.
/// </summary>
public static class MaskedLMPretrainer
{
    /// <summary>
    /// Runs the pretraining (a <see cref="MaskedLanguageModelingTask"/> on the <see cref="TrainingLoop"/>:
    /// AdamW with weight decay 0.01 except biases and LayerNorm, linear warm-up over 6 % of the steps then
    /// linear decay, clipping at 1) and writes the model to <paramref name="outputDirectory"/>; returns the
    /// final training loss (mean of the last 50 steps).
    /// </summary>
    /// <exception cref="PeftConfigurationException">A setting of <paramref name="options"/> is out of range.</exception>
    /// <exception cref="TrainingCanceledException"><paramref name="cancellationToken"/> was cancelled (nothing is saved).</exception>
    public static double Run(IReadOnlyList<string> texts, string outputDirectory, PretrainOptions options, TextWriter log, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var architecture = options.Architecture as MaskedLMArchitecture
            ?? throw new ArgumentException($"{options.Architecture.Name} is not a masked-LM architecture (use {nameof(CausalLMPretrainer)})", nameof(options));
        var clock = Stopwatch.StartNew();
        manual_seed(options.Seed);
        var vocab = WordPieceTrainer.Train(texts, options.VocabularySize);
        Directory.CreateDirectory(outputDirectory);
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "vocab.txt"), WordPieceTrainer.ToVocabText(vocab));
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "tokenizer_config.json"), "{\n  \"do_lower_case\": true,\n  \"model_max_length\": " + options.SequenceLength + ",\n  \"tokenizer_class\": \"BertTokenizer\"\n}\n");
        var tokenizer = TextTokenizer.TryLoad(outputDirectory)!;
        var sequences = Pack(texts, tokenizer, options.SequenceLength);
        log.WriteLine($"vocabulary {vocab.Count} tokens; {sequences.Count} sequences of {options.SequenceLength} tokens ({clock.Elapsed.TotalSeconds:F0} s)");

        var model = architecture.Create(new MaskedLMShape(vocab.Count, options.Hidden, options.Layers, options.Heads, options.SequenceLength, tokenizer.PadTokenId) { IntermediateSize = options.IntermediateSize ?? 4 * options.Hidden });
        log.WriteLine($"{options.Architecture.Name} {model.ArchitectureName}: {options.Layers} layers, hidden {options.Hidden}, {options.Heads} heads");
        using var task = new MaskedLanguageModelingTask(model, tokenizer, sequences, options.SequenceLength, vocab.Count, options.BatchSize, options.MaskProbability, options.Seed);
        var outcome = PretrainingLoop.Run(model, task, options, log, progress, cancellationToken);
        model.eval();
        model.SavePretrained(outputDirectory, ScalarType.Float16);
        log.WriteLine($"saved to {outputDirectory} in {clock.Elapsed.TotalMinutes:F1} min");
        return outcome.Losses.TakeLast(50).Average();
    }

    /// <summary>Packs the corpus into sequences <c>[CLS] tokens… [SEP]</c> of exactly <paramref name="length"/> tokens.</summary>
    public static List<long[]> Pack(IEnumerable<string> texts, TextTokenizer tokenizer, int length)
    {
        var stream = new List<long>();
        foreach (var text in texts)
        {
            var ids = tokenizer.Encode(text).InputIds;
            stream.AddRange(ids[1..^1]);
            stream.Add(ids[^1]);
        }

        var body = length - 2;
        var cls = tokenizer.Encode(string.Empty).InputIds[0];
        var sep = tokenizer.Encode(string.Empty).InputIds[^1];
        var result = new List<long[]>();
        for (var start = 0; start + body <= stream.Count; start += body)
        {
            result.Add([cls, .. stream.GetRange(start, body), sep]);
        }

        return result;
    }

    /// <summary>BERT's masking: of the non-special tokens, <paramref name="probability"/> are predicted; of those 80 % become [MASK], 10 % a random token, 10 % stay.</summary>
    public static (Tensor Inputs, Tensor Labels) Mask(Tensor ids, TextTokenizer tokenizer, int vocabularySize, double probability, Generator generator)
    {
        using var scope = NewDisposeScope();
        var special = ids.le(4);
        var chosen = rand(ids.shape, generator: generator).lt(probability).logical_and(special.logical_not());
        var labels = where(chosen, ids, full_like(ids, -100));
        var roll = rand(ids.shape, generator: generator);
        var maskId = tokenizer.MaskTokenId ?? 4;
        var inputs = where(chosen.logical_and(roll.lt(0.8)), full_like(ids, maskId), ids);
        var randomTokens = randint(5, vocabularySize, ids.shape, generator: generator);
        inputs = where(chosen.logical_and(roll.ge(0.8)).logical_and(roll.lt(0.9)), randomTokens, inputs);
        return (inputs.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }
}
