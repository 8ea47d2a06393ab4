using PeftSharp.IO.Json;

namespace PeftSharp.Adapters;

/// <summary>
/// The settings every method shares (PEFT's <c>PeftConfig</c> plus targeting), declared under PEFT's
/// names: <c>adapter_config.json</c> is this object serialised. A method derives from it and adds its
/// hyper-parameters; its <see cref="AdapterMethod"/> builds paths and controllers from them.
/// </summary>
public abstract class AdapterConfig
{
    /// <summary>PEFT task types a config may name.</summary>
    public static IReadOnlyList<string> TaskTypes { get; } = ["SEQ_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"];

    /// <summary>
    /// The method these settings configure: the registered method whose <see cref="AdapterMethod.ConfigType"/>
    /// is this type (a method outside <see cref="AdapterMethodRegistry"/> overrides this).
    /// </summary>
    [JsonIgnore]
    public virtual AdapterMethod Method => AdapterMethodRegistry.ForConfig(GetType())
        ?? throw new InvalidOperationException($"{GetType().Name} is the settings type of no registered method; register the method or override {nameof(Method)}");

    /// <summary>PEFT's <c>peft_type</c> for this method (for example <c>LORA</c>).</summary>
    [JsonIgnore]
    public string PeftType => Method.PeftType;

    /// <summary>PEFT's <c>task_type</c> (<c>SEQ_CLS</c>, <c>CAUSAL_LM</c>, ...), or null.</summary>
    public string? TaskType { get; set; }

    /// <summary>Hub id or local path of the base model.</summary>
    public string? BaseModelNameOrPath { get; set; }

    /// <summary>Base model revision.</summary>
    public string? Revision { get; set; }

    /// <summary>When true the adapter is never trainable.</summary>
    public bool InferenceMode { get; set; }

    /// <summary>The modules to adapt: names, a regular expression or all-linear. Null takes PEFT's default for the model type at injection.</summary>
    [JsonConverter(typeof(TargetModulesConverter))]
    public TargetModules? TargetModules { get; set; }

    /// <summary>Modules never to adapt (same matching rules as <see cref="TargetModules"/>, applied first).</summary>
    [JsonConverter(typeof(TargetModulesConverter))]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TargetModules? ExcludeModules { get; set; }

    /// <summary>Adapt only layers with these indices (empty or null: no restriction).</summary>
    [JsonConverter(typeof(IntegerListConverter))]
    public IReadOnlyList<int>? LayersToTransform { get; set; }

    /// <summary>Names of the layer list(s) (<c>layers</c>, <c>h</c>, ...) whose index <see cref="LayersToTransform"/> reads.</summary>
    [JsonConverter(typeof(StringOrListConverter))]
    public IReadOnlyList<string>? LayersPattern { get; set; }

    /// <summary>Modules trained in full (a trainable copy per adapter) and saved with the adapter, such as a classifier head.</summary>
    [JsonConverter(typeof(StringListConverter))]
    public IReadOnlyList<string>? ModulesToSave { get; set; }

    /// <summary>Which biases are trained.</summary>
    [JsonConverter(typeof(SnakeCaseEnumConverter<BiasMode>))]
    public BiasMode Bias { get; set; } = BiasMode.None;

    /// <summary>
    /// PEFT's <c>fan_in_fan_out</c>. PeftSharp reads the layout from the module type (Conv1D is
    /// transposed, Linear is not), so this only records what a PEFT config said.
    /// </summary>
    public bool FanInFanOut { get; set; }

    /// <summary>Fields of the file this configuration was read from that PeftSharp does not know; written back on save.</summary>
    [JsonIgnore]
    public JsonObject ExtraFields { get; } = [];

    /// <summary>The unknown fields as the serializer collects them while reading (moved to <see cref="ExtraFields"/> after reading).</summary>
    [JsonExtensionData]
    [JsonInclude]
    internal Dictionary<string, JsonElement>? UnknownFields { get; set; }

    /// <summary>
    /// Fields of PEFT's class for this method that change the math or the module tree and that
    /// PeftSharp does not implement: a file that sets one to a non-default value is refused.
    /// </summary>
    protected internal virtual IReadOnlyList<string> UnsupportedOptions => [];

    /// <summary>Fields read and dropped: they only steer what PeftSharp never does (initialisation from data, PEFT's bookkeeping).</summary>
    protected internal virtual IReadOnlyList<string> IgnoredOptions => ["auto_mapping", "peft_version"];

    /// <summary>The file this configuration was read from (named in validation messages), or null.</summary>
    [JsonIgnore]
    internal string? SourceFile { get; set; }

    /// <summary>Checks the configuration before anything is injected: <see cref="CheckFields"/>, and that the targets are set.</summary>
    /// <exception cref="PeftConfigurationException">A field is missing or out of range.</exception>
    public virtual void Validate()
    {
        var check = new ConfigValidator(GetType().Name, SourceFile, reading: false);
        CheckFields(check);
        check.Require(TargetModules is not null, nameof(TargetModules), "target_modules", "set (names, a regex, or all-linear)", null);
    }

    /// <summary>
    /// Checks each field's range (the <see cref="FieldCheckAttribute"/>s declared on the properties) and the
    /// fields' consistency (run when a file is read and again before injection). A method overrides it to
    /// check what one field's attribute cannot say, after calling the base.
    /// </summary>
    /// <param name="check">Reports a problem under the field's property and JSON names.</param>
    protected internal virtual void CheckFields(ConfigValidator check)
    {
        check.CheckDeclared(this);
        check.OneOf(TaskType, TaskTypes, nameof(TaskType), "task_type");
        if (TargetModules?.Kind == TargetModulesKind.Regex)
        {
            check.Require(LayersToTransform is not { Count: > 0 }, nameof(LayersToTransform), "layers_to_transform", "empty with a regex target_modules (write the layer index into the regex)", "a list");
            check.Require(LayersPattern is not { Count: > 0 }, nameof(LayersPattern), "layers_pattern", "empty with a regex target_modules", "a list");
        }

        for (var i = 0; i < (LayersPattern?.Count ?? 0); i++)
        {
            var pattern = LayersPattern![i];
            check.Regex(pattern, TargetSelector.RegexProblem(pattern, TargetSelector.WholeNamePattern(pattern)), nameof(LayersPattern), $"layers_pattern[{i}]");
        }

        for (var i = 0; i < (LayersToTransform?.Count ?? 0); i++)
        {
            check.Require(LayersToTransform![i] >= 0, nameof(LayersToTransform), $"layers_to_transform[{i}]", "a layer index ≥ 0", LayersToTransform[i]);
        }
    }
}
