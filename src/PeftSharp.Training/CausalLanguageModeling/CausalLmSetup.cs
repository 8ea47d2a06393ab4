using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Chat;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// What every causal-LM fine-tuning run sets up the same way (<c>peft train</c> on a decoder and the
/// generative <c>peft demo</c>): the SFT encoder of a base, the decoder, the adapter from the method's
/// causal-LM preset, its learning rate, and the <see cref="CausalLmTask"/> over length-grouped batches.
/// </summary>
public static class CausalLmSetup
{
    /// <summary>The learning rate when neither the user nor the method names one.</summary>
    public const double DefaultLearningRate = 2e-4;

    /// <summary>The SFT encoder of <paramref name="baseDirectory"/>'s tokenizer (and its chat template when <paramref name="dataPath"/> holds conversations).</summary>
    /// <exception cref="PeftException">The base has no tokenizer.</exception>
    public static SftEncoder Encoder(string baseDirectory, string dataPath, int maxLength)
    {
        if (!HfTokenizer.Exists(baseDirectory))
        {
            throw new PeftException($"{baseDirectory} has no {HfTokenizer.TokenizerFileName}: supervised fine-tuning needs the model's tokenizer");
        }

        var tokenizer = HfTokenizer.Load(baseDirectory);
        var template = SftDataset.DetectFormat(dataPath) == SftFormat.Messages ? ChatTemplate.Load(baseDirectory) : null;
        return new SftEncoder(tokenizer, template, maxLength);
    }

    /// <summary>Loads the decoder of <paramref name="baseDirectory"/> with its frozen weights in <paramref name="dtype"/>.</summary>
    /// <exception cref="PeftConfigurationException">The model is no causal LM.</exception>
    public static PretrainedModel LoadDecoder(string baseDirectory, TorchSharp.torch.ScalarType dtype = TorchSharp.torch.ScalarType.Float32)
    {
        var model = PretrainedModel.FromPretrained(baseDirectory, dtype, strict: true, out _);
        return model.Task == ModelTask.CausalLanguageModeling
            ? model
            : throw new PeftConfigurationException($"{baseDirectory}: causal-LM fine-tuning needs a decoder (llama, mistral, qwen2, qwen3, phi3, gpt2); {model.ArchitectureName} is not one");
    }

    /// <summary>The methods that have a causal-LM preset, in registry order.</summary>
    public static IReadOnlyList<AdapterMethod> TrainableMethods() =>
        [.. AdapterMethodRegistry.All.Where(m => m.CreateTrainingConfig(1, AdapterTask.CausalLanguageModeling) is not null)];

    /// <summary>The learning rate of a run: <paramref name="requested"/>, else the method's recommended causal-LM rate, else <see cref="DefaultLearningRate"/>.</summary>
    public static double LearningRate(AdapterMethod method, double? requested)
    {
        ArgumentNullException.ThrowIfNull(method);
        return requested ?? method.RecommendedLearningRate(AdapterTask.CausalLanguageModeling) ?? DefaultLearningRate;
    }

    /// <summary>
    /// Wraps <paramref name="model"/> in a trainable adapter: <paramref name="config"/>, or the method's
    /// causal-LM preset for <paramref name="totalSteps"/> steps, as a <c>CAUSAL_LM</c> adapter naming <paramref name="baseDirectory"/>.
    /// </summary>
    /// <exception cref="PeftConfigurationException">No config is given and the method has no causal-LM preset.</exception>
    public static PeftModel CreateAdapter(PretrainedModel model, AdapterMethod method, int totalSteps, string baseDirectory, AdapterConfig? config = null)
    {
        ArgumentNullException.ThrowIfNull(method);
        config ??= method.CreateTrainingConfig(totalSteps, AdapterTask.CausalLanguageModeling)
            ?? throw new PeftConfigurationException($"method '{method.Name}' has no causal-LM preset yet; pass --adapter-config");
        config.TaskType = "CAUSAL_LM";
        config.BaseModelNameOrPath ??= baseDirectory;
        config.InferenceMode = false;
        return PeftModel.Create(model, config);
    }

    /// <summary>
    /// The evaluator that scores generations on held-out <paramref name="examples"/> of a base
    /// (<c>peft eval</c> on a decoder, <c>peft train</c>'s report and the generative demo): greedy, scored by <paramref name="metrics"/>
    /// (null: <see cref="GenerationMetrics.Default"/>), <paramref name="batchSize"/> prompts at a time (null: the default),
    /// the first <paramref name="sampleCount"/> samples kept; a completion ends at its first newline unless a reference spans lines.
    /// </summary>
    public static GenerativeEvaluator Evaluator(string baseDirectory, IReadOnlyList<GenerationExample> examples, int sampleCount = 5, int? batchSize = null, IReadOnlyList<IGenerationMetric>? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        return new GenerativeEvaluator(PromptEncoder.Load(baseDirectory), new GenerativeEvaluatorOptions
        {
            SampleCount = sampleCount,
            BatchSize = batchSize ?? new GenerativeEvaluatorOptions().BatchSize,
            Metrics = metrics ?? GenerationMetrics.Default,
            StopAtNewline = !examples.Any(e => e.Completion.Trim().Contains('\n', StringComparison.Ordinal)),
        });
    }

    /// <summary>
    /// The causal-LM task over <paramref name="train"/> (shuffled, length-grouped; with
    /// <paramref name="packing"/>, packed into rows of <see cref="TrainerOptions.MaxLength"/> tokens,
    /// <see cref="TrainerOptions.BatchSize"/> rows a batch) and <paramref name="validation"/> (in order,
    /// never packed; null or empty: none), padded with <paramref name="padTokenId"/>.
    /// </summary>
    /// <exception cref="PeftConfigurationException"><paramref name="packing"/> on a model that cannot take restarting positions (GPT-2).</exception>
    public static CausalLmTask CreateTask(PretrainedModel model, IReadOnlyList<CausalLmExample> train, IReadOnlyList<CausalLmExample>? validation, long padTokenId, TrainerOptions options, bool packing = false)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        if (packing && model is not Models.Decoders.DecoderForCausalLM)
        {
            throw new PeftConfigurationException($"packing needs a decoder that takes per-example positions (llama, mistral, qwen2, qwen3, phi3); {model.ArchitectureName} does not");
        }

        ICausalLmBatcher batcher = packing
            ? new PackedBatcher(train, options.MaxLength, options.BatchSize, padTokenId, options.Seed)
            : new LengthGroupedBatcher(train, options.BatchSize, padTokenId, options.Seed);
        return new CausalLmTask(
            model,
            batcher,
            validation is null || validation.Count == 0 ? null : new LengthGroupedBatcher(validation, options.BatchSize, padTokenId, options.Seed, shuffle: false));
    }
}
