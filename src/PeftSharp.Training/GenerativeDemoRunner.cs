using PeftSharp.Adapters;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Training;

/// <summary>How <see cref="GenerativeDemoRunner"/> trains and evaluates each method.</summary>
public sealed record GenerativeDemoOptions
{
    /// <summary>Optimizer steps per method (default 200).</summary>
    public int Steps { get; init; } = 200;

    /// <summary>Examples per batch (default 16).</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Tokens per training example (default 32; g2p's prompt and completion fit in far fewer).</summary>
    public int MaxLength { get; init; } = 32;

    /// <summary>Test examples generated and scored per method (default 100, the first ones; null: the whole split).</summary>
    public int? EvalLimit { get; init; } = 100;

    /// <summary>Training examples used (the first ones; null: all).</summary>
    public int? TrainLimit { get; init; }

    /// <summary>Samples (prompt, reference, generated) kept per method for the report (default 5).</summary>
    public int SampleCount { get; init; } = 5;

    /// <summary>
    /// Factor on each method's recommended causal-LM learning rate; the ratios between the
    /// methods stay as their presets are tuned, while the tiny bundled decoder trained for a few hundred steps needs more (default 10).
    /// </summary>
    public double LearningRateScale { get; init; } = 10;

    /// <summary>Random seed, the same for every method.</summary>
    public int Seed { get; init; }

    /// <summary>Methods to run (null or empty: every method with a causal-LM preset).</summary>
    public IReadOnlyList<string>? Methods { get; init; }

    /// <summary>Throws for values out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxLength);
        ArgumentOutOfRangeException.ThrowIfNegative(SampleCount);
        if (!(LearningRateScale > 0) || double.IsInfinity(LearningRateScale))
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRateScale), LearningRateScale, "must be a positive finite number");
        }
        if (EvalLimit is { } e)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(e, nameof(EvalLimit));
        }

        if (TrainLimit is { } t)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(t, nameof(TrainLimit));
        }
    }

    /// <summary>The learning rate of <paramref name="method"/>: its recommended causal-LM rate (or the default) times <see cref="LearningRateScale"/>.</summary>
    public double LearningRate(AdapterMethod method) => CausalLmSetup.LearningRate(method, null) * LearningRateScale;
}

/// <summary>What a generative run trains and scores on: the base's SFT encoder, the training examples and the test examples.</summary>
/// <param name="Encoder">The SFT encoder of the base's tokenizer.</param>
/// <param name="Train">The training examples (the first <see cref="GenerativeDemoOptions.TrainLimit"/>, or all).</param>
/// <param name="Test">The test examples (the first <see cref="GenerativeDemoOptions.EvalLimit"/>, or all).</param>
public sealed record GenerativeDemoData(SftEncoder Encoder, IReadOnlyList<CausalLmExample> Train, IReadOnlyList<GenerationExample> Test)
{
    /// <summary>Loads <paramref name="dataDirectory"/>'s <c>train.jsonl</c> and <c>test.jsonl</c> with the tokenizer of <paramref name="baseDirectory"/>, cut to <paramref name="options"/>' limits.</summary>
    public static GenerativeDemoData Load(string baseDirectory, string dataDirectory, GenerativeDemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var trainPath = Path.Combine(dataDirectory, "train.jsonl");
        var encoder = CausalLmSetup.Encoder(baseDirectory, trainPath, options.MaxLength);
        var train = SftDataset.Load(trainPath, encoder).Examples;
        var test = GenerationExample.ReadJsonLines(Path.Combine(dataDirectory, "test.jsonl"));
        return new(
            encoder,
            options.TrainLimit is { } t ? [.. train.Take(t)] : train,
            options.EvalLimit is { } e ? [.. test.Take(e)] : test);
    }
}

/// <summary>One adapter trained by <see cref="GenerativeDemoRunner.Train"/>.</summary>
/// <param name="Model">The decoder, with the trained adapter injected.</param>
/// <param name="Peft">The trained adapter.</param>
/// <param name="Outcome">The training loop's outcome (losses, seconds per step).</param>
/// <param name="LearningRate">The learning rate used.</param>
public sealed record GenerativeTraining(DecoderForCausalLM Model, PeftModel Peft, TrainingOutcome Outcome, double LearningRate);

/// <summary>One method's line in the generative demo table.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Evaluation">Test metrics (word accuracy, phoneme error rate) and samples of the trained adapter.</param>
/// <param name="TrainableParams">Trainable parameters.</param>
/// <param name="Ranks">Final rank of every adapted module (module name → rank).</param>
/// <param name="SecondsPerStep">Wall time per optimizer step.</param>
/// <param name="Losses">Training loss per step.</param>
/// <param name="LearningRate">The learning rate used (the method's recommended causal-LM rate or the default, times <see cref="GenerativeDemoOptions.LearningRateScale"/>).</param>
/// <param name="OutputDirectory">The method's run folder (metrics.jsonl, ranks.jsonl).</param>
public sealed record GenerativeDemoRow(string Method, GenerativeEvaluation Evaluation, long TrainableParams, IReadOnlyDictionary<string, int> Ranks, double SecondsPerStep, IReadOnlyList<double> Losses, double LearningRate, string? OutputDirectory = null)
{
    /// <summary>Test word accuracy (exact match of the whole pronunciation).</summary>
    public double WordAccuracy => Evaluation.Metrics[GenerationMetrics.WordAccuracy];

    /// <summary>Test phoneme error rate.</summary>
    public double PhonemeErrorRate => Evaluation.Metrics[GenerationMetrics.PhonemeErrorRate];
}

/// <summary>
/// <c>peft demo --task g2p</c>: fine-tunes the bundled decoder on grapheme-to-phoneme prompt/completion
/// data with every method that has a causal-LM preset (its recommended learning rate, the same data,
/// seed and step count for all), generates the test pronunciations greedily and scores word accuracy and
/// phoneme error rate; one row per method (the CLI prints the table and writes the report).
/// </summary>
public static class GenerativeDemoRunner
{
    /// <summary>Runs the demo on <paramref name="dataDirectory"/>'s <c>train.jsonl</c> and <c>test.jsonl</c> with the decoder in <paramref name="baseDirectory"/>; each method's run folder is <paramref name="outputDirectory"/>/<c>method</c>.</summary>
    /// <exception cref="PeftConfigurationException">No trainable method matches <see cref="GenerativeDemoOptions.Methods"/>, or the base is no decoder.</exception>
    public static IReadOnlyList<GenerativeDemoRow> Run(string baseDirectory, string dataDirectory, string outputDirectory, GenerativeDemoOptions options, TextWriter log, Func<string, IProgress<TrainingProgress>?>? progressFor = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        var data = GenerativeDemoData.Load(baseDirectory, dataDirectory, options);
        var trainable = CausalLmSetup.TrainableMethods();
        var methods = trainable.Where(m => options.Methods is not { Count: > 0 } || options.Methods.Contains(m.Name, StringComparer.OrdinalIgnoreCase)).ToList();
        if (methods.Count == 0)
        {
            throw new PeftConfigurationException($"no method with a causal-LM preset matches {string.Join(", ", options.Methods ?? [])} (available: {string.Join(", ", trainable.Select(m => m.Name))})");
        }

        var evaluator = Evaluator(baseDirectory, data.Test, options.SampleCount);
        log.WriteLine($"task {Path.GetFileName(Path.GetFullPath(dataDirectory).TrimEnd(Path.DirectorySeparatorChar))}: {data.Train.Count} train / {data.Test.Count} test; {options.Steps} steps of {options.BatchSize}; methods: {string.Join(", ", methods.Select(m => m.Name))}");
        var rows = new List<GenerativeDemoRow>();
        foreach (var method in methods)
        {
            var folder = Path.Combine(outputDirectory, method.Name);
            var trained = Train(baseDirectory, data, method, null, options, folder, log, progressFor?.Invoke(method.Name));
            var evaluation = evaluator.Evaluate(trained.Model, data.Test);
            var row = new GenerativeDemoRow(method.Name, evaluation, trained.Peft.GetParameterReport().Trainable, trained.Peft.GetEffectiveRanks(), trained.Outcome.SecondsPerStep, trained.Outcome.Losses, trained.LearningRate, folder);
            rows.Add(row);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{method.Name}: test word accuracy {row.WordAccuracy:F4}, PER {row.PhonemeErrorRate:F4} ({evaluation.Count} words)"));
        }

        return rows;
    }

    /// <summary>
    /// Trains one adapter on the decoder in <paramref name="baseDirectory"/> as the demo trains each
    /// method: <paramref name="config"/> (null: the method's causal-LM preset), the learning rate of
    /// <see cref="GenerativeDemoOptions.LearningRate"/>, <see cref="GenerativeDemoOptions.Steps"/> steps of
    /// <see cref="GenerativeDemoOptions.BatchSize"/> shuffled, length-grouped examples; the seed
    /// (<see cref="GenerativeDemoOptions.Seed"/>) fixes the adapter's initialisation, the data order and dropout.
    /// Logs go to <paramref name="outputDirectory"/> (metrics.jsonl, ranks.jsonl).
    /// </summary>
    /// <exception cref="PeftConfigurationException">No config is given and the method has no causal-LM preset, or the base is no decoder.</exception>
    public static GenerativeTraining Train(string baseDirectory, GenerativeDemoData data, AdapterMethod method, AdapterConfig? config, GenerativeDemoOptions options, string outputDirectory, TextWriter log, IProgress<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        TorchSharp.torch.manual_seed(options.Seed);
        var learningRate = options.LearningRate(method);
        var trainerOptions = new TrainerOptions
        {
            MaxSteps = options.Steps,
            BatchSize = options.BatchSize,
            MaxLength = options.MaxLength,
            LearningRate = learningRate,
            HeadLearningRate = learningRate,
            Seed = options.Seed,
            LogEvery = Math.Max(1, options.Steps / 4),
            OutputDirectory = outputDirectory,
        };
        var model = CausalLmSetup.LoadDecoder(baseDirectory);
        var peft = CausalLmSetup.CreateAdapter(model, method, options.Steps, baseDirectory, config);
        log.WriteLine($"== {method.Name}: {peft.GetParameterReport()}, lr {learningRate.ToString(CultureInfo.InvariantCulture)}");
        var task = CausalLmSetup.CreateTask(model, data.Train, null, data.Encoder.PadTokenId, trainerOptions);
        var outcome = new TrainingLoop(task, trainerOptions, ParameterGroups.ForAdapter(peft, trainerOptions), peft, log, progress).Run();
        return new GenerativeTraining((DecoderForCausalLM)model, peft, outcome, learningRate);
    }

    /// <summary>The demo's greedy evaluator for the decoder in <paramref name="baseDirectory"/> (<see cref="CausalLmSetup.Evaluator"/> for <paramref name="test"/>): g2p's metrics (<see cref="GenerationMetrics.G2p"/>), batches of 50, <paramref name="sampleCount"/> samples kept.</summary>
    public static GenerativeEvaluator Evaluator(string baseDirectory, IReadOnlyList<GenerationExample> test, int sampleCount) =>
        CausalLmSetup.Evaluator(baseDirectory, test, sampleCount, batchSize: 50, GenerationMetrics.G2p);

    /// <summary>The table as Markdown: method, word accuracy, PER, trainable params, final ranks, s/step.</summary>
    public static string Table(IReadOnlyList<GenerativeDemoRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        text.AppendLine("| method | word accuracy | PER | trainable params | final ranks | lr | s/step |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Method} | {r.WordAccuracy:F4} | {r.PhonemeErrorRate:F4} | {r.TrainableParams:N0} | {DemoRunner.RankSummary(r.Ranks)} | {r.LearningRate:G3} | {r.SecondsPerStep:F3} |"));
        }

        return text.ToString();
    }

    /// <summary>The table as JSON records <c>{"method","word_accuracy","phoneme_error_rate","trainable_params","ranks","learning_rate","seconds_per_step","count"}</c>.</summary>
    public static JsonArray ToJson(IReadOnlyList<GenerativeDemoRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return new([.. rows.Select(r => (JsonNode?)new JsonObject
        {
            ["method"] = r.Method,
            [GenerationMetrics.WordAccuracy] = r.WordAccuracy,
            [GenerationMetrics.PhonemeErrorRate] = r.PhonemeErrorRate,
            ["trainable_params"] = r.TrainableParams,
            ["ranks"] = new JsonObject(r.Ranks.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["learning_rate"] = r.LearningRate,
            ["seconds_per_step"] = r.SecondsPerStep,
            ["count"] = r.Evaluation.Count,
        })]);
    }
}
