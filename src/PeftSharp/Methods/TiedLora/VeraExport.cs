using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Methods.TiedLora;

/// <summary>Writes a VeRA-preset Tied-LoRA adapter as PEFT's <c>VERA</c> files.</summary>
public static class VeraExport
{
    /// <summary>
    /// Saves <paramref name="adapterName"/> (a Tied-LoRA adapter with the VeRA preset: A and B frozen,
    /// one pair shared across shapes, scaling 1) as PEFT's VeRA: <c>base_model.vera_A [r, max_in]</c>,
    /// <c>base_model.vera_B [max_out, r]</c> (<c>save_projection: true</c>), and per module
    /// <c>vera_lambda_d = u</c>, <c>vera_lambda_b = v</c>; PEFT's <c>ΔW = (λ_b ⊙ B)(λ_d ⊙ A)</c> on the
    /// sliced projections is this adapter's increment. Modules-to-save copies are kept.
    /// </summary>
    public static void ExportVera(this PeftModel peft, string directory, string? adapterName = null)
    {
        var name = adapterName ?? peft.ActiveAdapter;
        if (peft.GetConfig(name) is not TiedLoraConfig config || config.TrainA || config.TrainB || !config.TieAB || !config.ShareAcrossShapes || config.ScaleByAlphaOverR)
        {
            throw new InvalidOperationException($"adapter '{name}' is not a VeRA-preset Tied-LoRA adapter (frozen A and B shared across shapes, scaling 1); export it with ExportPlainLora instead");
        }

        var modules = peft.ModulesOf(name);
        var paths = modules.Select(m => (TiedLoraPath)m.Layer.GetPath(name)).ToList();
        var tensors = peft.AdapterStateDict(name)
            .Where(kv => !modules.Any(m => kv.Key.StartsWith($"{PeftModel.KeyPrefix}{m.Name}.", StringComparison.Ordinal)) && !kv.Key.StartsWith($"{PeftModel.TunerPrefix}tied_lora.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        tensors[$"{PeftModel.TunerPrefix}vera_A"] = paths[0].Pair.A;
        tensors[$"{PeftModel.TunerPrefix}vera_B"] = paths[0].Pair.B;
        for (var i = 0; i < modules.Count; i++)
        {
            tensors[$"{PeftModel.KeyPrefix}{modules[i].Name}.vera_lambda_b"] = paths[i].V;
            tensors[$"{PeftModel.KeyPrefix}{modules[i].Name}.vera_lambda_d"] = paths[i].U;
        }

        var json = new JsonObject
        {
            ["peft_type"] = "VERA",
            ["r"] = config.R,
            ["target_modules"] = new JsonArray([.. modules.Select(m => (JsonNode?)m.Name)]),
            ["projection_prng_key"] = config.ProjectionPrngKey,
            ["save_projection"] = true,
            ["vera_dropout"] = config.LoraDropout,
            ["d_initial"] = config.UInit,
            ["fan_in_fan_out"] = modules.Any(m => m.Layer.Target.FanInFanOut),
            ["bias"] = config.Bias switch { BiasMode.All => "all", BiasMode.AdapterOnly => "vera_only", _ => "none" },
            ["modules_to_save"] = config.ModulesToSave is { } saved ? new JsonArray([.. saved.Select(s => (JsonNode?)s)]) : null,
            ["init_weights"] = true,
            ["layers_to_transform"] = null,
            ["layers_pattern"] = null,
            ["task_type"] = config.TaskType,
            ["base_model_name_or_path"] = config.BaseModelNameOrPath,
            ["revision"] = config.Revision,
            ["inference_mode"] = true,
        };
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Save(Path.Combine(directory, PeftModel.WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(directory, AdapterConfigFile.FileName), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }
}
