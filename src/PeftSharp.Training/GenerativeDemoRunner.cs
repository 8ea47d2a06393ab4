using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
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
}

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
        var trainPath = Path.Combine(dataDirectory, "train.jsonl");
        var encoder = CausalLmSetup.Encoder(baseDirectory, trainPath, options.MaxLength);
        var train = SftDataset.Load(trainPath, encoder);
        var trainExamples = options.TrainLimit is { } t ? train.Examples.Take(t).ToList() : train.Examples;
        var test = GenerationExample.ReadJsonLines(Path.Combine(dataDirectory, "test.jsonl"));
        if (options.EvalLimit is { } e)
        {
            test = [.. test.Take(e)];
        }

        var trainable = CausalLmSetup.TrainableMethods();
        var methods = trainable.Where(m => options.Methods is not { Count: > 0 } || options.Methods.Contains(m.Name, StringComparer.OrdinalIgnoreCase)).ToList();
        if (methods.Count == 0)
        {
            throw new PeftConfigurationException($"no method with a causal-LM preset matches {string.Join(", ", options.Methods ?? [])} (available: {string.Join(", ", trainable.Select(m => m.Name))})");
        }

        var evaluator = CausalLmSetup.Evaluator(baseDirectory, test, options.SampleCount, batchSize: 50);
        log.WriteLine($"task {Path.GetFileName(Path.GetFullPath(dataDirectory).TrimEnd(Path.DirectorySeparatorChar))}: {trainExamples.Count} train / {test.Count} test; {options.Steps} steps of {options.BatchSize}; methods: {string.Join(", ", methods.Select(m => m.Name))}");
        var rows = new List<GenerativeDemoRow>();
        foreach (var method in methods)
        {
            TorchSharp.torch.manual_seed(options.Seed);
            var learningRate = CausalLmSetup.LearningRate(method, null) * options.LearningRateScale;
            var trainerOptions = new TrainerOptions
            {
                MaxSteps = options.Steps,
                BatchSize = options.BatchSize,
                MaxLength = options.MaxLength,
                LearningRate = learningRate,
                HeadLearningRate = learningRate,
                Seed = options.Seed,
                LogEvery = Math.Max(1, options.Steps / 4),
                OutputDirectory = Path.Combine(outputDirectory, method.Name),
            };
            var model = CausalLmSetup.LoadDecoder(baseDirectory);
            var peft = CausalLmSetup.CreateAdapter(model, method, options.Steps, baseDirectory);
            log.WriteLine($"== {method.Name}: {peft.GetParameterReport()}, lr {learningRate.ToString(CultureInfo.InvariantCulture)}");
            var task = CausalLmSetup.CreateTask(model, trainExamples, null, encoder.PadTokenId, trainerOptions);
            var outcome = new TrainingLoop(task, trainerOptions, ParameterGroups.ForAdapter(peft, trainerOptions), peft, log, progressFor?.Invoke(method.Name)).Run();
            var evaluation = evaluator.Evaluate((DecoderForCausalLM)model, test);
            var row = new GenerativeDemoRow(method.Name, evaluation, peft.GetParameterReport().Trainable, peft.GetEffectiveRanks(), outcome.SecondsPerStep, outcome.Losses, learningRate, trainerOptions.OutputDirectory);
            rows.Add(row);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{method.Name}: test word accuracy {row.WordAccuracy:F4}, PER {row.PhonemeErrorRate:F4} ({evaluation.Count} words)"));
        }

        return rows;
    }

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
