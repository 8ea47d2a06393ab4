using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft train</c> on a decoder: SFT data (<c>train.jsonl</c>, optional <c>validation.jsonl</c>) in
/// any of TRL's formats, a <see cref="CausalLmTask"/> on the trainer, and the best adapter saved as a
/// PEFT <c>CAUSAL_LM</c> adapter naming its base.
/// </summary>
internal static class CausalLmTraining
{
    /// <summary>The files the trained adapter generates for, the first that exists.</summary>
    private static readonly string[] HeldOutFiles = ["test.jsonl", "validation.jsonl"];

    /// <summary>
    /// How the decoder is held and trained: base dtype, activation checkpointing, the learning rate the user chose (null: the method's
    /// recommended one), whether short examples are packed into rows, and how many held-out records the trained adapter generates for (null: all).
    /// </summary>
    public sealed record DecoderSettings(TorchSharp.torch.ScalarType Dtype, bool GradientCheckpointing, double? LearningRate, bool Packing = false, int? EvalLimit = 100, IReadOnlyList<IGenerationMetric>? GenerationMetrics = null);

    /// <summary>Trains; returns the exit code.</summary>
    public static int Run(string baseDirectory, string dataDirectory, string methodName, FileInfo? adapterConfigFile, TrainerOptions options, DecoderSettings decoder, bool resume)
    {
        var trainPath = Path.Combine(dataDirectory, "train.jsonl");
        var validationPath = Path.Combine(dataDirectory, "validation.jsonl");
        var encoder = CausalLmSetup.Encoder(baseDirectory, trainPath, options.MaxLength);
        var train = SftDataset.Load(trainPath, encoder);
        var validation = File.Exists(validationPath) ? SftDataset.Load(validationPath, encoder) : null;
        Console.WriteLine(train.Describe(options.MaxLength));
        if (validation is not null)
        {
            Console.WriteLine(validation.Describe(options.MaxLength));
        }

        if (train.Examples.Count == 0)
        {
            throw new PeftException($"{trainPath}: no example is left to train on");
        }

        // Read before training, so bad held-out records stop the run before it spends anything.
        var heldOut = HeldOut(dataDirectory, decoder.EvalLimit);

        var info = AdapterMethodRegistry.Find(methodName) ?? throw new PeftConfigurationException($"unknown method '{methodName}' ({string.Join(", ", AdapterMethodRegistry.All.Select(m => m.Name))})");
        TorchSharp.torch.manual_seed(options.Seed);
        var model = CausalLmSetup.LoadDecoder(baseDirectory, decoder.Dtype);
        var adapterConfig = adapterConfigFile is { } file ? AdapterConfigFile.Read(file.FullName) : null;
        var learningRate = CausalLmSetup.LearningRate(info, decoder.LearningRate);
        options = options with { LearningRate = learningRate, HeadLearningRate = learningRate };
        if (decoder.GradientCheckpointing)
        {
            var checkpointable = model as Models.Decoders.DecoderForCausalLM
                ?? throw new PeftConfigurationException($"--gradient-checkpointing: {model.ArchitectureName} has no checkpointed layers yet (llama, mistral, qwen2, qwen3 and phi3 have)");
            checkpointable.EnableGradientCheckpointing();
        }

        var peft = CausalLmSetup.CreateAdapter(model, info, options.TotalSteps(train.Examples.Count), baseDirectory, adapterConfig);
        Console.WriteLine(peft.GetParameterReport());
        var task = CausalLmSetup.CreateTask(model, train.Examples, validation?.Examples, encoder.PadTokenId, options, decoder.Packing);
        if (!Interruptible.TryRun(token => ProgressDisplay.Run((progressFor, log) =>
            new TrainingLoop(task, options, ParameterGroups.ForAdapter(peft, options), peft, log, progressFor(info.Name)).Run(resume, token)), out var outcome))
        {
            return Program.Interrupted;
        }

        string published;
        if (outcome!.Best is { } best)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"best validation {options.Metric}: {best.Metrics[options.Metric]:F4} (loss {best.Loss:F4}) at step {best.Step}"));
            published = Path.Combine(options.OutputDirectory!, "best");
            Console.WriteLine($"best adapter: {published}");
        }
        else
        {
            // Without validation data nothing was kept as best: the last weights are the result.
            published = Path.Combine(options.OutputDirectory!, "adapter");
            peft.SavePretrained(published);
            Console.WriteLine($"adapter: {published}");
        }

        // The published adapter is scored as `peft eval` scores it, on a fresh base: the training model is no longer needed.
        model.Dispose();
        var generation = heldOut.Examples is { } examples ? Generate(baseDirectory, published, decoder, heldOut.File!, heldOut.Records, examples) : new(heldOut.File, heldOut.Records, null, [], heldOut.Skipped);
        var settings = string.Create(CultureInfo.InvariantCulture, $"Base `{baseDirectory}` held in {decoder.Dtype}; {SftDataset.FormatName(train.Format)} records, max length {options.MaxLength}; packing {(decoder.Packing ? "on" : "off")}; gradient checkpointing {(decoder.GradientCheckpointing ? "on" : "off")}.");
        var report = Reports.RunReport.WriteCausalTrain(options.OutputDirectory!, info.Name, AdapterConfigFile.ToJson(peft.Configs[peft.ActiveAdapter]), dataDirectory, settings, options, outcome, Path.GetFileName(published), generation);
        Console.WriteLine($"report: {report}");
        return Program.Success;
    }

    /// <summary>
    /// The held-out records the trained adapter generates for: <c>test.jsonl</c>, else <c>validation.jsonl</c>, the
    /// first <paramref name="limit"/> (null: all); no examples, and why, when there is no such file or its records hold no reference (<c>text</c>).
    /// </summary>
    private static (string? File, int Records, List<GenerationExample>? Examples, string? Skipped) HeldOut(string dataDirectory, int? limit)
    {
        var path = HeldOutFiles.Select(name => Path.Combine(dataDirectory, name)).FirstOrDefault(File.Exists);
        if (path is null)
        {
            return (null, 0, null, "the data folder has no test.jsonl or validation.jsonl to generate for");
        }

        if (SftDataset.DetectFormat(path) == SftFormat.Text)
        {
            return (path, 0, null, $"{Path.GetFileName(path)} holds `text` records, which have no reference to compare a generation with: this run reports loss and perplexity only");
        }

        var examples = GenerationExample.ReadJsonLines(path);
        return (path, examples.Count, limit is { } n ? [.. examples.Take(n)] : examples, null);
    }

    /// <summary>Loads the published adapter on a fresh base in <paramref name="dtype"/>, generates greedily for <paramref name="examples"/> (the first of <paramref name="records"/> in <paramref name="file"/>) and scores them.</summary>
    private static Reports.GenerationReport Generate(string baseDirectory, string adapterDirectory, DecoderSettings decoder, string file, int records, List<GenerationExample> examples)
    {
        var evaluator = CausalLmSetup.Evaluator(baseDirectory, examples, metrics: decoder.GenerationMetrics);
        using var model = CausalLmSetup.LoadDecoder(baseDirectory, decoder.Dtype);
        var evaluation = evaluator.Evaluate((Models.Decoders.DecoderForCausalLM)PeftModel.FromPretrained(model, adapterDirectory).Model, examples);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(file)} ({evaluation.Count} of {records} records): {string.Join(", ", evaluation.Metrics.Select(m => $"{m.Key} {m.Value:F4}"))}"));
        return new(file, records, evaluation, evaluator.Options.Metrics, null);
    }
}
