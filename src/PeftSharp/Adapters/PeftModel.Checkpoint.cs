using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>PEFT-compatible checkpoints: <c>adapter_config.json</c> + <c>adapter_model.safetensors</c>.</summary>
public partial class PeftModel
{
    /// <summary>The weights file name PEFT writes.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The legacy pickle weights file name, which PeftSharp does not read.</summary>
    public const string LegacyWeightsFileName = "adapter_model.bin";

    /// <summary>The key prefix PEFT files use (<c>base_model.</c> for the tuner, <c>model.</c> for the wrapped model).</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The prefix of tuner-level keys (tensors shared by several modules, such as PEFT's <c>base_model.vera_A</c>).</summary>
    public const string TunerPrefix = "base_model.";

    /// <summary>
    /// Saves adapters as PEFT does (<c>save_pretrained</c>): the <c>default</c> adapter in
    /// <paramref name="directory"/>, any other adapter <c>X</c> in <c>directory/X</c>. Each gets
    /// <c>adapter_model.safetensors</c> (keys <c>base_model.model.&lt;module&gt;.lora_A.weight</c>, ...,
    /// adapter name removed, metadata <c>{"format": "pt"}</c>) and <c>adapter_config.json</c>, both written atomically.
    /// </summary>
    /// <param name="directory">Target directory (created when missing).</param>
    /// <param name="adapterNames">Adapters to save (default: all).</param>
    /// <param name="trainingState">
    /// Save the live tensors and configuration as they are, for resuming training, instead of the
    /// method's publication form (AdaLoRA: cut to the kept ranks).
    /// </param>
    public void SavePretrained(string directory, IEnumerable<string>? adapterNames = null, bool trainingState = false)
    {
        ThrowIfUnloaded();
        WarnIfHooksSkipped("saving");
        foreach (var name in (adapterNames ?? _adapterOrder).ToList())
        {
            var config = GetConfig(name);
            var target = name == DefaultAdapter ? directory : Path.Combine(directory, name);
            Directory.CreateDirectory(target);
            var written = trainingState ? config : WithResolvedAllLinear(config.Method.ConfigForSave(config, name, ModulesOf(name)), name);
            var tensors = AdapterStateDict(name);
            var copies = new List<Tensor>();
            foreach (var module in trainingState ? [] : ModulesOf(name))
            {
                var path = module.Layer.GetPath(name);
                foreach (var (key, tensor) in path.CheckpointTensors())
                {
                    if (!ReferenceEquals(tensors[$"{KeyPrefix}{module.Name}.{key}"], tensor))
                    {
                        copies.Add(tensor);
                    }

                    tensors[$"{KeyPrefix}{module.Name}.{key}"] = tensor;
                }
            }

            try
            {
                SafetensorsWriter.Save(Path.Combine(target, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            }
            finally
            {
                foreach (var copy in copies)
                {
                    copy.Dispose();
                }
            }

            AdapterConfigFile.Write(Path.Combine(target, AdapterConfigFile.FileName), written, Model.GetType().Name);
        }
    }

    /// <summary>
    /// PEFT writes <c>all-linear</c> resolved to the adapted modules' last name segments
    /// (<c>["q_proj", "k_proj", …]</c>), which older PEFT versions read too. Resolved likewise when those
    /// names select exactly the adapted modules again; otherwise (a head sharing a name) kept as it is.
    /// </summary>
    private AdapterConfig WithResolvedAllLinear(AdapterConfig config, string adapterName)
    {
        if (config.TargetModules is not { Kind: TargetModulesKind.AllLinear })
        {
            return config;
        }

        var adapted = ModulesOf(adapterName).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var names = TargetModules.FromNames([.. adapted.Select(n => n[(n.LastIndexOf('.') + 1)..]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)]);
        var selected = CandidateModules().Where(c => IsLinearLike(c.Module) && TargetSelector.Matches(names, c.Name)).Select(c => c.Name);
        if (!adapted.SetEquals(selected))
        {
            return config;
        }

        var copy = ReferenceEquals(config, GetConfig(adapterName)) ? AdapterConfigFile.Copy(config) : config;
        copy.TargetModules = names;
        return copy;
    }

    /// <summary>
    /// Loads a PEFT adapter from <paramref name="directory"/> into <paramref name="model"/> (PEFT's
    /// <c>PeftModel.from_pretrained</c>): reads the config (method chosen by <c>peft_type</c>),
    /// injects, and copies the weights (F16/BF16/F64 files convert to the model's dtype). Unless
    /// <paramref name="isTrainable"/>, the adapter is frozen and the model put in eval mode.
    /// </summary>
    /// <param name="model">The base model (its base weights already loaded).</param>
    /// <param name="directory">A directory with <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>.</param>
    /// <param name="adapterName">The name to give the adapter.</param>
    /// <param name="isTrainable">Whether the adapter should train.</param>
    /// <param name="strict">When true, missing or unexpected keys are errors; otherwise they become <see cref="Warnings"/>. Shape mismatches are always errors.</param>
    /// <exception cref="AdapterLoadException">The weights do not fit the model.</exception>
    /// <exception cref="ConfigFormatException">The config is malformed or sets an unsupported option.</exception>
    public static PeftModel FromPretrained(nn.Module model, string directory, string adapterName = DefaultAdapter, bool isTrainable = false, bool strict = true)
    {
        var warnings = new List<string>();
        var config = ReadConfigForLoad(directory, isTrainable, warnings);
        var peft = Create(model, config, adapterName);
        peft._warnings.AddRange(warnings);
        peft.LoadWeights(directory, adapterName, strict);
        if (!isTrainable)
        {
            model.eval();
        }

        return peft;
    }

    /// <summary>
    /// Loads another PEFT adapter from <paramref name="directory"/> under <paramref name="adapterName"/>
    /// (PEFT's <c>load_adapter</c>); it is not activated.
    /// </summary>
    public void LoadAdapter(string directory, string adapterName, bool isTrainable = false, bool strict = true)
    {
        var warnings = new List<string>();
        var config = ReadConfigForLoad(directory, isTrainable, warnings);
        AddAdapter(adapterName, config);
        _warnings.AddRange(warnings);
        LoadWeights(directory, adapterName, strict);
    }

    /// <summary>
    /// The tensors a checkpoint of <paramref name="adapterName"/> holds, under PEFT's keys: every
    /// path tensor, the adapter's <c>modules_to_save</c> copy, and the biases its <c>bias</c> mode
    /// trains. Values are the live tensors.
    /// </summary>
    public Dictionary<string, Tensor> AdapterStateDict(string adapterName)
    {
        var config = GetConfig(adapterName);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var module in ModulesOf(adapterName))
        {
            var path = module.Layer.GetPath(adapterName);
            foreach (var (name, tensor) in path.NamedAdapterTensors())
            {
                result[$"{KeyPrefix}{module.Name}.{name}"] = tensor;
            }

            foreach (var (name, tensor) in path.SharedTensors())
            {
                result[$"{TunerPrefix}{name}"] = tensor;
            }

            if (config.Bias == BiasMode.AdapterOnly && module.Layer.Target.Bias is { } bias)
            {
                result[$"{KeyPrefix}{module.Name}.base_layer.bias"] = bias;
            }
        }

        foreach (var saved in _saved.Where(s => s.Wrapper.AdapterNames.Contains(adapterName)))
        {
            foreach (var (name, tensor) in saved.Wrapper.GetCopy(adapterName).state_dict())
            {
                result[$"{KeyPrefix}{saved.Name}.{name}"] = tensor;
            }
        }

        if (config.Bias == BiasMode.All)
        {
            foreach (var (name, parameter) in Model.named_parameters())
            {
                if ((name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal)) && !IsAdapterInternal(name))
                {
                    result[KeyPrefix + name] = parameter;
                }
            }
        }

        return result;
    }

    /// <summary>True for parameter names inside adapter paths or modules_to_save wrappers (not base weights).</summary>
    private bool IsAdapterInternal(string parameterName) =>
        _layers.Any(m => parameterName.StartsWith(m.Name + ".", StringComparison.Ordinal) && !parameterName.StartsWith(m.Name + ".base_layer.", StringComparison.Ordinal)) ||
        _saved.Any(s => parameterName.StartsWith(s.Name + ".", StringComparison.Ordinal));

    private static AdapterConfig ReadConfigForLoad(string directory, bool isTrainable, List<string> warnings)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"adapter directory '{directory}' does not exist");
        }

        var config = AdapterConfigFile.Read(Path.Combine(directory, AdapterConfigFile.FileName), warnings);
        config.InferenceMode = !isTrainable;
        return config;
    }

    /// <summary>Copies the weights saved in <paramref name="directory"/> into the existing adapter <paramref name="adapterName"/> (strict).</summary>
    public void LoadAdapterWeights(string directory, string adapterName)
    {
        ThrowIfUnloaded();
        GetConfig(adapterName);
        LoadWeights(directory, adapterName, strict: true);
    }

    private void LoadWeights(string directory, string adapterName, bool strict)
    {
        var path = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(path))
        {
            var legacy = Path.Combine(directory, LegacyWeightsFileName);
            throw File.Exists(legacy)
                ? new AdapterLoadException(legacy, "legacy pickle adapters (adapter_model.bin) are not read: a pickle can run code. Convert it to adapter_model.safetensors with PEFT (save_pretrained(safe_serialization=True))")
                : new AdapterLoadException(path, "the adapter weights file does not exist");
        }

        var expected = AdapterStateDict(adapterName);
        using var file = SafetensorsFile.Open(path);
        var missing = new List<string>();
        var unexpected = new List<string>();
        var mismatched = new List<string>();
        var matched = new List<(string Key, string FileKey)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in file.Entries)
        {
            var key = entry.Name.StartsWith(TunerPrefix, StringComparison.Ordinal) ? entry.Name : KeyPrefix + entry.Name;
            if (key.EndsWith(".ranknum", StringComparison.Ordinal))
            {
                continue;
            }

            if (!expected.TryGetValue(key, out var live))
            {
                unexpected.Add(entry.Name);
                continue;
            }

            seen.Add(key);
            if (!entry.Shape.SequenceEqual(live.shape))
            {
                mismatched.Add($"{entry.Name}: file [{string.Join(", ", entry.Shape)}] vs model [{string.Join(", ", live.shape)}]");
                continue;
            }

            matched.Add((key, entry.Name));
        }

        missing.AddRange(expected.Keys.Where(k => !seen.Contains(k)));
        if (mismatched.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            throw new AdapterLoadException(path, missing, unexpected, mismatched);
        }

        if (missing.Count > 0 || unexpected.Count > 0)
        {
            _warnings.Add(AdapterLoadException.Describe(path, missing, unexpected, []));
        }

        using var noGrad = no_grad();
        foreach (var (key, fileKey) in matched)
        {
            using var loaded = file.Read(fileKey);
            expected[key].copy_(loaded);
        }
    }
}
