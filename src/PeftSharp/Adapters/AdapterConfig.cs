using System.Text.Json.Nodes;
using PeftSharp.IO;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>Which existing biases are trained and saved with the adapter (PEFT's <c>bias</c>).</summary>
public enum BiasMode
{
    /// <summary>No bias is trained.</summary>
    None,

    /// <summary>Every bias of the model is trained.</summary>
    All,

    /// <summary>Only the biases of adapted layers are trained (PEFT: <c>lora_only</c>).</summary>
    AdapterOnly,
}

/// <summary>
/// The configuration every method shares (PEFT's <c>PeftConfig</c> plus targeting). A method
/// derives from it, adds its hyper-parameters, and builds its paths and optional controller.
/// </summary>
public abstract class AdapterConfig
{
    /// <summary>PEFT's <c>peft_type</c> for this method (for example <c>LORA</c>).</summary>
    public abstract string PeftType { get; }

    /// <summary>PEFT's <c>task_type</c> (<c>SEQ_CLS</c>, <c>CAUSAL_LM</c>, ...), or null.</summary>
    public string? TaskType { get; set; }

    /// <summary>Hub id or local path of the base model.</summary>
    public string? BaseModelNameOrPath { get; set; }

    /// <summary>Base model revision.</summary>
    public string? Revision { get; set; }

    /// <summary>When true the adapter is never trainable.</summary>
    public bool InferenceMode { get; set; }

    /// <summary>The modules to adapt. Required.</summary>
    public TargetModules? TargetModules { get; set; }

    /// <summary>Modules never to adapt (same matching rules as <see cref="TargetModules"/>, applied first).</summary>
    public TargetModules? ExcludeModules { get; set; }

    /// <summary>Adapt only layers with these indices (empty or null: no restriction).</summary>
    public IReadOnlyList<int>? LayersToTransform { get; set; }

    /// <summary>Names of the layer list(s) (<c>layers</c>, <c>h</c>, ...) whose index <see cref="LayersToTransform"/> reads.</summary>
    public IReadOnlyList<string>? LayersPattern { get; set; }

    /// <summary>Modules trained in full (a trainable copy per adapter) and saved with the adapter, such as a classifier head.</summary>
    public IReadOnlyList<string>? ModulesToSave { get; set; }

    /// <summary>Which biases are trained.</summary>
    public BiasMode Bias { get; set; } = BiasMode.None;

    /// <summary>
    /// PEFT's <c>fan_in_fan_out</c>. PeftSharp reads the layout from the module type (Conv1D is
    /// transposed, Linear is not), so this only records what a PEFT config said.
    /// </summary>
    public bool FanInFanOut { get; set; }

    /// <summary>Fields of the file this configuration was read from that PeftSharp does not know; written back on save.</summary>
    public Dictionary<string, JsonNode?> ExtraFields { get; } = new(StringComparer.Ordinal);

    /// <summary>PEFT's name for <see cref="BiasMode.AdapterOnly"/> in this method's config (<c>lora_only</c> for the LoRA family).</summary>
    protected virtual string AdapterOnlyBiasName => "lora_only";

    /// <summary>PEFT task types a config may name.</summary>
    public static IReadOnlyList<string> TaskTypes { get; } = ["SEQ_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"];

    /// <summary>
    /// Writes this configuration's fields under PEFT's names (snake_case) into <paramref name="json"/>.
    /// A method overrides it to add its own fields after calling the base.
    /// </summary>
    public virtual void WriteJson(JsonObject json)
    {
        json["peft_type"] = PeftType;
        json["task_type"] = TaskType;
        json["base_model_name_or_path"] = BaseModelNameOrPath;
        json["revision"] = Revision;
        json["inference_mode"] = InferenceMode;
        json["target_modules"] = TargetModulesJson(TargetModules);
        if (ExcludeModules is not null)
        {
            json["exclude_modules"] = TargetModulesJson(ExcludeModules);
        }

        json["layers_to_transform"] = LayersToTransform is null ? null : new JsonArray([.. LayersToTransform.Select(i => JsonValue.Create(i))]);
        json["layers_pattern"] = LayersPattern is null ? null : LayersPattern.Count == 1 ? LayersPattern[0] : new JsonArray([.. LayersPattern.Select(p => JsonValue.Create(p))]);
        json["modules_to_save"] = ModulesToSave is null ? null : new JsonArray([.. ModulesToSave.Select(m => JsonValue.Create(m))]);
        json["bias"] = Bias switch { BiasMode.All => "all", BiasMode.AdapterOnly => AdapterOnlyBiasName, _ => "none" };
        json["fan_in_fan_out"] = FanInFanOut;
        foreach (var (key, value) in ExtraFields)
        {
            json[key] = value?.DeepClone();
        }
    }

    /// <summary>
    /// Reads this configuration's fields from <paramref name="json"/> (missing fields keep their
    /// defaults). A method overrides it to read its own fields after calling the base. Anything a
    /// reader cannot accept is a <see cref="ConfigFormatException"/> naming the field.
    /// </summary>
    public virtual void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        json.Ignore("peft_type");
        json.Ignore("auto_mapping");
        json.Ignore("peft_version");
        TaskType = json.String("task_type");
        if (TaskType is not null && !TaskTypes.Contains(TaskType))
        {
            throw json.Error("task_type", $"'{TaskType}' is not one of {string.Join(", ", TaskTypes)}");
        }

        BaseModelNameOrPath = json.String("base_model_name_or_path");
        Revision = json.String("revision");
        InferenceMode = json.Bool("inference_mode", false);
        TargetModules = ReadTargetModules(json, "target_modules");
        ExcludeModules = ReadTargetModules(json, "exclude_modules");
        LayersToTransform = json.Ints("layers_to_transform");
        LayersPattern = json.Strings("layers_pattern");
        for (var i = 0; i < (LayersPattern?.Count ?? 0); i++)
        {
            if (TargetSelector.RegexProblem(LayersPattern![i], TargetSelector.WholeNamePattern(LayersPattern[i])) is { } problem)
            {
                throw json.Error($"layers_pattern[{i}]", $"'{LayersPattern[i]}' is not a valid regular expression: {problem}");
            }
        }

        ModulesToSave = json.Strings("modules_to_save");
        var bias = json.String("bias", "none");
        Bias = bias == "none" ? BiasMode.None
            : bias == "all" ? BiasMode.All
            : bias == AdapterOnlyBiasName ? BiasMode.AdapterOnly
            : throw json.Error("bias", $"'{bias}' is not one of none, all, {AdapterOnlyBiasName}");
        FanInFanOut = json.Bool("fan_in_fan_out", false);
        if (json.Has("runtime_config"))
        {
            json.Ignore("runtime_config");
            warnings.Add("runtime_config is never stored; it was dropped");
        }
    }

    private static JsonNode? TargetModulesJson(TargetModules? targets) => targets?.Kind switch
    {
        null => null,
        TargetModulesKind.AllLinear => "all-linear",
        TargetModulesKind.Regex => targets.Pattern,
        _ => new JsonArray([.. targets.Names.Select(n => JsonValue.Create(n))]),
    };

    private static TargetModules? ReadTargetModules(ConfigJson json, string field)
    {
        switch (json.Node(field))
        {
            case null:
                return null;
            case JsonValue v when v.TryGetValue<string>(out var s):
                if (s.Length == 0)
                {
                    throw json.Error(field, "expected a regular expression or all-linear, found an empty string");
                }

                try
                {
                    return Adapters.TargetModules.FromString(s);
                }
                catch (PeftConfigurationException e)
                {
                    throw json.Error(field, e.Message);
                }

            case JsonArray:
                var names = json.Strings(field)!;
                if (names.IndexOf(string.Empty) is var empty and >= 0)
                {
                    throw json.Error($"{field}[{empty}]", "expected a module name, found an empty string");
                }

                return names.Count > 0 ? Adapters.TargetModules.FromNames([.. names]) : null;
            default:
                throw json.Error(field, "expected a string or a list of strings");
        }
    }

    /// <summary>Checks the configuration before anything is injected.</summary>
    /// <exception cref="PeftConfigurationException">A field is missing or out of range.</exception>
    public virtual void Validate()
    {
        if (TargetModules is null)
        {
            throw new PeftConfigurationException($"{GetType().Name}.TargetModules is required (names, a regex, or all-linear)");
        }

        if (TargetModules.Kind == TargetModulesKind.Regex && LayersToTransform is { Count: > 0 })
        {
            throw new PeftConfigurationException("LayersToTransform cannot be combined with a regex TargetModules (write the layer index into the regex)");
        }

        if (TargetModules.Kind == TargetModulesKind.Regex && LayersPattern is { Count: > 0 })
        {
            throw new PeftConfigurationException("LayersPattern cannot be combined with a regex TargetModules");
        }

        if (LayersPattern?.FirstOrDefault(p => TargetSelector.RegexProblem(p, TargetSelector.WholeNamePattern(p)) is not null) is { } badPattern)
        {
            throw new PeftConfigurationException($"LayersPattern '{badPattern}' is not a valid regular expression");
        }

        if (LayersToTransform is not null && LayersToTransform.Any(i => i < 0))
        {
            throw new PeftConfigurationException("LayersToTransform holds a negative layer index");
        }
    }

    /// <summary>Builds the path this method adds to the layer <paramref name="moduleName"/>.</summary>
    public abstract LowRankPath CreatePath(string moduleName, LinearTarget target, AdapterBuildContext context);

    /// <summary>
    /// The configuration to write beside the adapter's <see cref="LowRankPath.CheckpointTensors"/>:
    /// this one, or a copy recording state the file needs (AdaLoRA's keep-masks). Never mutates this.
    /// </summary>
    public virtual AdapterConfig ConfigForSave(string adapterName, IReadOnlyList<AdaptedModule> modules) => this;

    /// <summary>Warnings about settings that matched nothing, given the names of the modules that were adapted.</summary>
    public virtual IEnumerable<string> CheckAfterInjection(IReadOnlyList<string> adaptedModuleNames) => [];

    /// <summary>A deep copy of this configuration, made by writing it as adapter_config.json and reading it back (so it keeps exactly what a saved file keeps).</summary>
    protected AdapterConfig CopyThroughJson() =>
        AdapterConfigFile.Read(ConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(AdapterConfigFile.ToJson(this)), AdapterConfigFile.FileName));

    /// <summary>The training-time controller of adapter <paramref name="adapterName"/> over its adapted modules, or null when the method needs none.</summary>
    public virtual TrainingController? CreateController(string adapterName, IReadOnlyList<AdaptedModule> modules) => null;
}

/// <summary>What a method may use while it builds the paths of one adapter.</summary>
public sealed class AdapterBuildContext
{
    /// <summary>Creates the context for adapter <paramref name="adapterName"/>.</summary>
    public AdapterBuildContext(string adapterName, Generator? generator = null, IReadOnlyList<KeyValuePair<string, LinearTarget>>? targets = null)
    {
        AdapterName = adapterName;
        Generator = generator;
        Targets = targets ?? [];
    }

    /// <summary>Every module this adapter will adapt (name → target), known before the first path is built (VeRA sizes its shared projections from it).</summary>
    public IReadOnlyList<KeyValuePair<string, LinearTarget>> Targets { get; }

    /// <summary>The adapter being built.</summary>
    public string AdapterName { get; }

    /// <summary>Random generator for initialisation; null uses the global generator (<c>torch.manual_seed</c>).</summary>
    public Generator? Generator { get; }

    /// <summary>State a method shares between the paths of one adapter (for example tied tensors), keyed by the method.</summary>
    public IDictionary<string, object> Shared { get; } = new Dictionary<string, object>(StringComparer.Ordinal);
}

/// <summary>An adapted module: its name in the model and its adapter layer.</summary>
/// <param name="Name">The module's name inside the original model (for example <c>encoder.layer.0.attention.self.query</c>).</param>
/// <param name="Layer">The adapter layer that replaced it.</param>
public sealed record AdaptedModule(string Name, AdapterLayer Layer);
