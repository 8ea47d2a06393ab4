using PeftSharp.Models;
using PeftSharp.Models.Chat;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Cli.Commands;

/// <summary>What <c>peft train</c> (causal LM) and <c>peft sft-preview</c> share: which task a run is, and the SFT encoder of a base directory.</summary>
internal static class SftInputs
{
    /// <summary>The <c>--task</c> value of causal-LM fine-tuning.</summary>
    public const string CausalLm = "causal-lm";

    /// <summary>The <c>--task</c> value of sequence classification.</summary>
    public const string SequenceClassification = "seq-cls";

    /// <summary>
    /// The task of a run: <paramref name="requested"/> when given; else from the first record of
    /// <paramref name="trainPath"/> (a <c>label</c> field: sequence classification; <c>prompt</c>,
    /// <c>completion</c> or <c>messages</c>: causal LM) and, for bare <c>text</c>, from the base model
    /// (a decoder: causal LM, else classification).
    /// </summary>
    public static string InferTask(string? requested, string baseDirectory, string trainPath)
    {
        if (requested is not null)
        {
            return requested;
        }

        if (!File.Exists(trainPath))
        {
            throw new FileNotFoundException($"dataset '{trainPath}' does not exist", trainPath);
        }

        var first = File.ReadLines(trainPath).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l));
        if (first is null || ConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(first), $"{trainPath}:1").Has("label"))
        {
            return SequenceClassification;
        }

        var format = SftDataset.DetectFormat(trainPath);
        return format is SftFormat.Messages or SftFormat.PromptCompletion || (format is SftFormat.Text && IsCausalLm(baseDirectory))
            ? CausalLm
            : SequenceClassification;
    }

    /// <summary>True when <paramref name="baseDirectory"/>'s config.json is a decoder (Llama family or GPT-2).</summary>
    public static bool IsCausalLm(string baseDirectory)
    {
        var path = Path.Combine(baseDirectory, "config.json");
        return File.Exists(path) && PretrainedModel.ReadConfig(ConfigJson.Load(path)) is DecoderConfig or Gpt2Config;
    }

    /// <summary>The SFT encoder of <paramref name="baseDirectory"/>'s tokenizer (and its chat template when <paramref name="dataPath"/> holds conversations).</summary>
    public static SftEncoder Encoder(string baseDirectory, string dataPath, int maxLength) => CausalLmSetup.Encoder(baseDirectory, dataPath, maxLength);
}
