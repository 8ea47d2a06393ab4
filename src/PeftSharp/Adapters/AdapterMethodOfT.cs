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

    /// <summary>Builds the path <paramref name="config"/> adds to the layer <paramref name="moduleName"/>.</summary>
    protected abstract LowRankPath CreatePath(TConfig config, string moduleName, LinearTarget target, AdapterBuildContext context);

    /// <summary>The training-time controller, or null (the default) when the method needs none.</summary>
    protected virtual TrainingController? CreateController(TConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) => null;

    /// <summary>Warnings about settings that matched nothing (default: none).</summary>
    protected virtual IEnumerable<string> CheckAfterInjection(TConfig config, IReadOnlyList<string> adaptedModuleNames) => [];

    /// <summary>The settings to save (default: <paramref name="config"/> itself).</summary>
    protected virtual AdapterConfig ConfigForSave(TConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) => config;

    /// <summary>
    /// Sets what every encoder-classification preset shares on <paramref name="config"/>: query and
    /// value adapted, classifier and pooler trained in full, task <c>SEQ_CLS</c>.
    /// </summary>
    protected static TConfig ForEncoderClassification(TConfig config)
    {
        config.TargetModules = TargetModules.FromNames("query", "value");
        config.ModulesToSave = ["classifier", "pooler"];
        config.TaskType = "SEQ_CLS";
        return config;
    }

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
    /// Sets what every causal-LM preset shares on <paramref name="config"/>: every linear layer but the
    /// output head adapted (PEFT's <c>all-linear</c>: a decoder's seven projections, or Phi-3's four),
    /// nothing trained in full, task <c>CAUSAL_LM</c>.
    /// </summary>
    protected static TConfig ForCausalLm(TConfig config)
    {
        config.TargetModules = TargetModules.AllLinear;
        config.ModulesToSave = null;
        config.TaskType = "CAUSAL_LM";
        return config;
    }

    /// <summary>A deep copy of <paramref name="config"/> made through <c>adapter_config.json</c> (so it keeps exactly what a saved file keeps).</summary>
    protected static TConfig CopyThroughJson(TConfig config) => (TConfig)AdapterConfigFile.Copy(config);

    /// <summary>The adapter paths of <paramref name="adapterName"/> of type <typeparamref name="TPath"/>, in module order.</summary>
    protected static List<TPath> PathsOf<TPath>(string adapterName, IReadOnlyList<AdaptedModule> modules)
        where TPath : LowRankPath =>
        [.. modules.Select(m => m.Layer.GetPath(adapterName)).OfType<TPath>()];

    private TConfig Settings(AdapterConfig config) =>
        config as TConfig ?? throw new ArgumentException($"method {Name} takes {typeof(TConfig).Name}, not {config.GetType().Name}", nameof(config));
}
