using System.Text.Json.Serialization.Metadata;
using PeftSharp.Conformance;

namespace PeftSharp.Adapters;

/// <summary>
/// A method PeftSharp implements: its names, its settings type (<see cref="AdapterConfig"/>) and its
/// behaviour (building paths and controllers). Injection, IO, the trainer and the CLI reach a method
/// through <see cref="AdapterMethodRegistry"/> or <see cref="AdapterConfig.Method"/> and never name one.
/// Derive from <see cref="AdapterMethod{TConfig}"/>.
/// </summary>
public abstract class AdapterMethod
{
    private protected AdapterMethod(string name, string peftType, IJsonTypeInfoResolver? configJsonResolver)
    {
        Name = name;
        PeftType = peftType;
        ConfigJsonResolver = configJsonResolver;
    }

    /// <summary>Short name used by the CLI and conformance cases (<c>lora</c>, <c>dylora</c>, ...).</summary>
    public string Name { get; }

    /// <summary>PEFT's <c>peft_type</c> (<c>LORA</c>, ...).</summary>
    public string PeftType { get; }

    /// <summary>The settings type.</summary>
    public abstract Type ConfigType { get; }

    /// <summary>Source-generated JSON metadata of <see cref="ConfigType"/>, or null to use reflection.</summary>
    public IJsonTypeInfoResolver? ConfigJsonResolver { get; }

    /// <summary>Creates settings with the method's defaults.</summary>
    public abstract AdapterConfig CreateConfig();

    /// <summary>
    /// The method's recommended settings for fine-tuning an encoder's attention (query/value) with the
    /// classifier trained in full, given the total optimizer steps; null while the method cannot train
    /// (the <see cref="AdapterTask.SequenceClassification"/> preset of <see cref="CreateTrainingConfig(int, AdapterTask)"/>).
    /// The trainer, <c>peft train</c> and <c>peft demo</c> use it.
    /// </summary>
    public AdapterConfig? CreateTrainingConfig(int totalSteps) => CreateTrainingConfig(totalSteps, AdapterTask.SequenceClassification);

    /// <summary>
    /// The method's recommended settings for <paramref name="task"/> given the total optimizer steps,
    /// or null while the method cannot train: for <see cref="AdapterTask.SequenceClassification"/> query and
    /// value adapted with the classifier and pooler trained in full; for <see cref="AdapterTask.CausalLanguageModeling"/>
    /// every linear layer of a decoder's attention and MLP (<c>all-linear</c>: <c>q_proj</c> … <c>down_proj</c>,
    /// Phi-3's fused <c>qkv_proj</c>/<c>gate_up_proj</c>), dropout 0.05, task <c>CAUSAL_LM</c>, schedules fitted to short runs.
    /// </summary>
    public virtual AdapterConfig? CreateTrainingConfig(int totalSteps, AdapterTask task) => null;

    /// <summary>
    /// The learning rate the method's preset for <paramref name="task"/> is tuned for (AdamW, after
    /// warm-up), or null to use the trainer's default: by default 2e-4 for causal-LM fine-tuning (QLoRA's)
    /// and null for encoder classification. Methods that train only small vectors want more.
    /// </summary>
    public virtual double? RecommendedLearningRate(AdapterTask task) => task == AdapterTask.CausalLanguageModeling ? 2e-4 : null;

    /// <summary>
    /// Named settings that exercise the method's variants (forms, presets, options), for tests that run
    /// over every method: each must validate once targets are set, and survive a save and a reload.
    /// </summary>
    public virtual IEnumerable<(string Name, AdapterConfig Config)> ContractVariants()
    {
        yield return ("default", CreateConfig());
    }

    /// <summary>
    /// The settings the benchmarks run for the method: its quality presets and ablations, the settings
    /// of its timing runs and their tolerances (none by default). Benchmarks take them from here and
    /// name no method.
    /// </summary>
    public virtual IEnumerable<BenchmarkVariant> BenchmarkVariants() => [];

    /// <summary>Creates the handler for the method's conformance cases, or null.</summary>
    public virtual IConformanceHandler? CreateConformanceHandler() => null;

    /// <summary>Builds the path <paramref name="config"/> adds to the layer <paramref name="moduleName"/>.</summary>
    public abstract LowRankPath CreatePath(AdapterConfig config, string moduleName, LinearTarget target, AdapterBuildContext context);

    /// <summary>The training-time controller of adapter <paramref name="adapterName"/> over its adapted modules, or null when the method needs none.</summary>
    public abstract TrainingController? CreateController(AdapterConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules);

    /// <summary>Warnings about settings that matched nothing, given the names of the modules that were adapted.</summary>
    public abstract IEnumerable<string> CheckAfterInjection(AdapterConfig config, IReadOnlyList<string> adaptedModuleNames);

    /// <summary>
    /// The settings to write beside the adapter's <see cref="LowRankPath.CheckpointTensors"/>:
    /// <paramref name="config"/>, or a copy recording state the file needs (AdaLoRA's keep-masks). Never mutates <paramref name="config"/>.
    /// </summary>
    public abstract AdapterConfig ConfigForSave(AdapterConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules);

    /// <inheritdoc />
    public override string ToString() => Name;
}
