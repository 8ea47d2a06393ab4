using System.Text.Json.Serialization.Metadata;

namespace PeftSharp.Adapters;

/// <summary>A method whose settings are <typeparamref name="TConfig"/> (see <see cref="AdapterMethod"/>).</summary>
/// <typeparam name="TConfig">The settings type.</typeparam>
public abstract class AdapterMethod<TConfig> : AdapterMethod
    where TConfig : AdapterConfig, new()
{
    /// <summary>Creates the method called <paramref name="name"/> (CLI) and <paramref name="peftType"/> (<c>peft_type</c>).</summary>
    /// <param name="name">Short name (<c>lora</c>).</param>
    /// <param name="peftType">PEFT's <c>peft_type</c> (<c>LORA</c>).</param>
    /// <param name="configJsonResolver">Source-generated JSON metadata of <typeparamref name="TConfig"/>, or null to use reflection.</param>
    protected AdapterMethod(string name, string peftType, IJsonTypeInfoResolver? configJsonResolver = null)
        : base(name, peftType, configJsonResolver)
    {
    }

    /// <inheritdoc />
    public sealed override Type ConfigType => typeof(TConfig);

    /// <inheritdoc />
    public sealed override AdapterConfig CreateConfig() => new TConfig();

    /// <inheritdoc />
    public sealed override LowRankPath CreatePath(AdapterConfig config, string moduleName, LinearTarget target, AdapterBuildContext context) =>
        CreatePath(Settings(config), moduleName, target, context);

    /// <inheritdoc />
    public sealed override TrainingController? CreateController(AdapterConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        CreateController(Settings(config), adapterName, modules);

    /// <inheritdoc />
    public sealed override IEnumerable<string> CheckAfterInjection(AdapterConfig config, IReadOnlyList<string> adaptedModuleNames) =>
        CheckAfterInjection(Settings(config), adaptedModuleNames);

    /// <inheritdoc />
    public sealed override AdapterConfig ConfigForSave(AdapterConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        ConfigForSave(Settings(config), adapterName, modules);

    /// <inheritdoc />
    public sealed override AdapterConfig? CreateTrainingConfig(int totalSteps, AdapterTask task) =>
        CreatePreset(task, totalSteps) is { } config ? ForTask(config, task) : null;

    /// <summary>The encoder-classification preset, typed (see <see cref="AdapterMethod.CreateTrainingConfig(int)"/>).</summary>
    /// <exception cref="NotSupportedException">The method has no training preset.</exception>
    public TConfig CreateEncoderPreset(int totalSteps) =>
        (TConfig?)CreateTrainingConfig(totalSteps, AdapterTask.SequenceClassification) ?? throw new NotSupportedException($"method {Name} has no training preset");

    /// <summary>Builds the path <paramref name="config"/> adds to the layer <paramref name="moduleName"/>.</summary>
    protected abstract LowRankPath CreatePath(TConfig config, string moduleName, LinearTarget target, AdapterBuildContext context);

    /// <summary>The training-time controller, or null (the default) when the method needs none.</summary>
    protected virtual TrainingController? CreateController(TConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) => null;

    /// <summary>Warnings about settings that matched nothing (default: none).</summary>
    protected virtual IEnumerable<string> CheckAfterInjection(TConfig config, IReadOnlyList<string> adaptedModuleNames) => [];

    /// <summary>The settings to save (default: <paramref name="config"/> itself).</summary>
    protected virtual AdapterConfig ConfigForSave(TConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) => config;

    /// <summary>
    /// A benchmark variant whose settings <paramref name="create"/> builds, with the benchmark's targets
    /// and fully trained modules set on them.
    /// </summary>
    protected static BenchmarkVariant Benchmark(BenchmarkKind kind, string name, Func<BenchmarkSettings, TConfig> create) =>
        new(kind, name, settings =>
        {
            var config = create(settings);
            config.TargetModules = settings.Targets;
            config.ModulesToSave = settings.ModulesToSave.Count > 0 ? [.. settings.ModulesToSave] : null;
            return config;
        });

    /// <summary>
    /// The method's hyper-parameters for fine-tuning on <paramref name="task"/> (null, the default, while it
    /// cannot train). What every preset of a task shares is set afterwards: the targets, the modules trained
    /// in full and the task type.
    /// </summary>
    protected virtual TConfig? CreatePreset(AdapterTask task, int totalSteps) => null;

    /// <summary>The adapter-input dropout of the presets: 0.1 for encoder classification (the papers' GLUE runs), 0.05 for causal LM (QLoRA's).</summary>
    protected static double PresetDropout(AdapterTask task) => task == AdapterTask.CausalLanguageModeling ? 0.05 : 0.1;

    /// <summary>A deep copy of <paramref name="config"/> made through <c>adapter_config.json</c> (so it keeps exactly what a saved file keeps).</summary>
    protected static TConfig CopyThroughJson(TConfig config) => (TConfig)AdapterConfigFile.Copy(config);

    /// <summary>The adapter paths of <paramref name="adapterName"/> of type <typeparamref name="TPath"/>, in module order.</summary>
    protected static List<TPath> PathsOf<TPath>(string adapterName, IReadOnlyList<AdaptedModule> modules)
        where TPath : LowRankPath =>
        [.. modules.Select(m => m.Layer.GetPath(adapterName)).OfType<TPath>()];

    /// <summary>
    /// Sets what every preset of <paramref name="task"/> shares: for encoder classification query and value
    /// adapted, classifier and pooler trained in full, task <c>SEQ_CLS</c>; for causal LM every linear layer
    /// but the output head (PEFT's <c>all-linear</c>: a decoder's seven projections, or Phi-3's four),
    /// nothing trained in full, task <c>CAUSAL_LM</c>.
    /// </summary>
    private static TConfig ForTask(TConfig config, AdapterTask task)
    {
        var causal = task switch
        {
            AdapterTask.SequenceClassification => false,
            AdapterTask.CausalLanguageModeling => true,
            _ => throw new ArgumentOutOfRangeException(nameof(task), task, "unknown task"),
        };
        config.TargetModules = causal ? TargetModules.AllLinear : TargetModules.FromNames("query", "value");
        config.ModulesToSave = causal ? null : ["classifier", "pooler"];
        config.TaskType = causal ? "CAUSAL_LM" : "SEQ_CLS";
        return config;
    }

    private TConfig Settings(AdapterConfig config) =>
        config as TConfig ?? throw new ArgumentException($"method {Name} takes {typeof(TConfig).Name}, not {config.GetType().Name}", nameof(config));
}
