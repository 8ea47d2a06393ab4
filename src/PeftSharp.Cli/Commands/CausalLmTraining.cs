using System.Globalization;
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
    /// <summary>How the decoder is held and trained: base dtype, activation checkpointing, the learning rate the user chose (null: the method's recommended one), and whether short examples are packed into rows.</summary>
    public sealed record DecoderSettings(TorchSharp.torch.ScalarType Dtype, bool GradientCheckpointing, double? LearningRate, bool Packing = false);

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

        if (outcome!.Best is { } best)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"best validation {options.Metric}: {best.Metrics[options.Metric]:F4} (loss {best.Loss:F4}) at step {best.Step}"));
            Console.WriteLine($"best adapter: {Path.Combine(options.OutputDirectory!, "best")}");
        }
        else
        {
            // Without validation data nothing was kept as best: the last weights are the result.
            var last = Path.Combine(options.OutputDirectory!, "adapter");
            peft.SavePretrained(last);
            Console.WriteLine($"adapter: {last}");
        }

        return Program.Success;
    }
}
