using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using static TorchSharp.torch;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// The options <c>peft generate</c> and <c>peft chat</c> share — which decoder, adapter, dtype and
/// tokenizer, and how to sample — and loading what they name.
/// </summary>
internal sealed class DecoderLoader
{
    private readonly Option<DirectoryInfo> _base = new("--base") { Description = "Hugging Face decoder directory (config.json + model.safetensors or a sharded index; optional generation_config.json and tokenizer files).", Required = true };
    private readonly Option<DirectoryInfo?> _adapter = new("--adapter") { Description = "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)." };
    private readonly Option<bool> _merge = new("--merge") { Description = "Merge the adapter into the base weights (computed in fp32) first." };
    private readonly Option<string> _dtype = DtypeOption("dtype to hold the base weights in: fp32, bf16 or fp16.");
    private readonly Option<DirectoryInfo?> _tokenizer = new("--tokenizer") { Description = "Directory with tokenizer.json, tokenizer_config.json and the chat template (default: --base)." };
    private readonly Option<double?> _temperature = new("--temperature") { Description = "Sample at this temperature (default: greedy)." };
    private readonly Option<double?> _topP = new("--top-p") { Description = "Sample from the smallest set of tokens whose probability reaches P." };
    private readonly Option<int?> _topK = new("--top-k") { Description = "Sample from the K most likely tokens." };
    private readonly Option<ulong?> _seed = new("--seed") { Description = "Seed of the sampling generator (default: random)." };

    /// <summary>Creates the options.</summary>
    public DecoderLoader()
    {
    }

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _base, _adapter, _merge, _dtype, _tokenizer, _temperature, _topP, _topK, _seed })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>True when a sampling option was given.</summary>
    public bool Samples(ParseResult result) =>
        result.GetValue(_temperature) is not null || result.GetValue(_topP) is not null || result.GetValue(_topK) is not null;

    /// <summary>Generation settings from the sampling options (greedy unless one was given).</summary>
    public GenerationOptions Generation(ParseResult result, int maxNewTokens) => new()
    {
        MaxNewTokens = maxNewTokens,
        DoSample = Samples(result),
        Temperature = result.GetValue(_temperature) ?? 1.0,
        TopP = result.GetValue(_topP) ?? 1.0,
        TopK = result.GetValue(_topK) ?? 0,
        Seed = result.GetValue(_seed),
    };

    /// <summary>
    /// Checks <paramref name="options"/>, naming a value out of range by its option: the sampling
    /// options here and the command's own (<paramref name="others"/>: property and option).
    /// </summary>
    public void Check(GenerationOptions options, params (string Setting, Option Option)[] others) =>
        OptionMessages.Check(
            options.Validate,
            [(nameof(options.Temperature), _temperature), (nameof(options.TopP), _topP), (nameof(options.TopK), _topK), .. others]);

    /// <summary>The prompt encoder of <c>--tokenizer</c> (default <c>--base</c>).</summary>
    public PromptEncoder Encoder(ParseResult result) =>
        PromptEncoder.Load(result.GetValue(_tokenizer)?.FullName ?? result.GetValue(_base)!.FullName);

    /// <summary>A <c>--dtype</c> option (fp32, bf16 or fp16; default fp32) with <paramref name="description"/>.</summary>
    public static Option<string> DtypeOption(string description)
    {
        var option = new Option<string>("--dtype") { Description = description, DefaultValueFactory = _ => "fp32" };
        option.AcceptOnlyFromAmong("fp32", "bf16", "fp16");
        return option;
    }

    /// <summary>
    /// A <c>--generation-metrics</c> option: the built-in metrics that score a decoder's greedy generations
    /// (default <c>exact_match token_error_rate</c>; g2p's names <c>word_accuracy phoneme_error_rate</c> are the same two).
    /// </summary>
    public static Option<string[]> GenerationMetricsOption(string description)
    {
        var option = new Option<string[]>("--generation-metrics")
        {
            Description = description,
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => [.. Training.CausalLanguageModeling.GenerationMetrics.Default.Select(m => m.Name)],
        };
        option.AcceptOnlyFromAmong([.. Training.CausalLanguageModeling.GenerationMetrics.All.Select(m => m.Name)]);
        return option;
    }

    /// <summary>The metrics a <c>--generation-metrics</c> value names, in order, each once.</summary>
    public static IReadOnlyList<Training.CausalLanguageModeling.IGenerationMetric> ParseGenerationMetrics(string[]? names) =>
        names is null || names.Length == 0
            ? Training.CausalLanguageModeling.GenerationMetrics.Default
            : [.. names.Distinct(StringComparer.OrdinalIgnoreCase).Select(Training.CausalLanguageModeling.GenerationMetrics.Find)];

    /// <summary>The dtype a <c>--dtype</c> value names (fp32, bf16 or fp16; the option accepts nothing else).</summary>
    public static ScalarType ParseDtype(string? value) => value switch { "bf16" => ScalarType.BFloat16, "fp16" => ScalarType.Float16, _ => ScalarType.Float32 };

    /// <summary>The decoder of <c>--base</c> held in <c>--dtype</c>, with <c>--adapter</c> applied (merged with <c>--merge</c>).</summary>
    public DecoderForCausalLM Model(ParseResult result)
    {
        var baseDirectory = result.GetValue(_base)!.FullName;
        var scalar = ParseDtype(result.GetValue(_dtype));
        var model = PretrainedModel.FromPretrained(baseDirectory, scalar, strict: true, out _) as DecoderForCausalLM
            ?? throw new ArgumentException($"{baseDirectory}: this command needs a decoder model (llama, mistral, qwen2, qwen3, phi3)");
        if (result.GetValue(_adapter) is { } adapterDirectory)
        {
            var peft = PeftModel.FromPretrained(model, adapterDirectory.FullName);
            foreach (var warning in peft.Warnings)
            {
                Console.Error.WriteLine($"warning: {warning}");
            }

            if (result.GetValue(_merge))
            {
                peft.MergeAdapter();
            }
        }
        else if (result.GetValue(_merge))
        {
            throw new ArgumentException("--merge needs --adapter");
        }

        return model;
    }
}
