using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// Writes a model whose adapters were merged (and unloaded) as a Hugging Face model directory any
/// transformers-compatible runtime loads: <c>config.json</c> (the base's, with <c>torch_dtype</c>),
/// <c>model.safetensors</c> (Hugging Face names, cast to the base's stored dtype, tied weights stored
/// once), the base's <c>generation_config.json</c> (written from <c>config.json</c>'s token ids for a
/// decoder whose base has none), and the tokenizer files and chat templates copied from the base.
/// The whole directory is replaced atomically.
/// </summary>
public static class MergedModelWriter
{
    private static readonly string[] GenerationTokenFields = ["bos_token_id", "eos_token_id", "pad_token_id"];

    /// <summary>The files copied from the base directory when present (tokenizer, chat template, generation settings); plus every <c>*.jinja</c>.</summary>
    public static IReadOnlyList<string> CompanionFiles { get; } =
    [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.model",
        "vocab.json", "merges.txt", "vocab.txt", "chat_template.json", "spm.model", Decoders.GenerationConfig.FileName,
    ];

    /// <summary>
    /// The dtype the base checkpoint in <paramref name="baseDirectory"/> stores its floating weights in
    /// (its first floating tensor), so a merged model is written back in it; float32 when it has none.
    /// </summary>
    /// <exception cref="FileNotFoundException">The directory has no checkpoint.</exception>
    public static ScalarType StoredDType(string baseDirectory)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(baseDirectory);
        foreach (var entry in checkpoint.Files.SelectMany(f => f.Entries))
        {
            if (SafetensorsDType.TryParse(entry.DType, out var type, out _) && type is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64)
            {
                return type;
            }
        }

        return ScalarType.Float32;
    }

    /// <summary>
    /// Writes <paramref name="merged"/> (its adapters merged and unloaded; weights in float32 so the merge
    /// was computed in float32, PEFT #1388) to <paramref name="outputDirectory"/> with its weights cast to
    /// <paramref name="dtype"/>, and the companions of <paramref name="baseDirectory"/>.
    /// </summary>
    /// <param name="merged">The merged model.</param>
    /// <param name="baseDirectory">The base model directory (source of tokenizer files, chat templates, generation settings).</param>
    /// <param name="outputDirectory">The directory to (re)place.</param>
    /// <param name="dtype">The dtype to store the weights in (normally <see cref="StoredDType"/> of the base).</param>
    public static void Write(PretrainedModel merged, string baseDirectory, string outputDirectory, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(merged);
        if (Path.GetFullPath(outputDirectory) == Path.GetFullPath(baseDirectory))
        {
            throw new ArgumentException($"the merged model cannot replace its own base directory '{baseDirectory}'", nameof(outputDirectory));
        }

        var dtypeName = TorchDTypeName(dtype);
        merged.Config.Json["torch_dtype"] = dtypeName;
        if (merged.Config.Json.ContainsKey("dtype"))
        {
            merged.Config.Json["dtype"] = dtypeName;
        }

        AtomicDirectory.Replace(outputDirectory, staging =>
        {
            merged.SavePretrained(staging, dtype);
            var companions = CompanionFiles.Where(f => File.Exists(Path.Combine(baseDirectory, f)))
                .Concat(Directory.EnumerateFiles(baseDirectory, "*.jinja").Select(Path.GetFileName).OfType<string>())
                .Distinct(StringComparer.Ordinal);
            foreach (var file in companions)
            {
                File.Copy(Path.Combine(baseDirectory, file), Path.Combine(staging, file), overwrite: true);
            }

            var generation = Path.Combine(staging, Decoders.GenerationConfig.FileName);
            if (merged is Decoders.DecoderForCausalLM && !File.Exists(generation))
            {
                var json = new JsonObject { ["_from_model_config"] = true };
                foreach (var field in GenerationTokenFields)
                {
                    if (merged.Config.Json[field] is { } value)
                    {
                        json[field] = value.DeepClone();
                    }
                }

                AtomicFile.WriteAllText(generation, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            }
        });
    }

    /// <summary>transformers' name of a dtype (<c>float32</c>, <c>bfloat16</c>, <c>float16</c>, <c>float64</c>).</summary>
    public static string TorchDTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        ScalarType.Float64 => "float64",
        _ => throw new ArgumentException($"a model is not stored in {dtype}", nameof(dtype)),
    };
}
