using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// A model with adapters injected (PEFT's <c>PeftModel</c>). <see cref="Create"/> rewrites the
/// model in place: every targeted linear layer becomes an <see cref="AdapterLayer"/>, every module
/// in <c>modules_to_save</c> a <see cref="ModulesToSaveWrapper"/>, and all base parameters are
/// frozen. Use <see cref="Model"/> for the forward. <see cref="Create{TModel}"/> returns the typed
/// <see cref="PeftModel{TModel}"/>, whose <c>Model</c> and <c>MergeAndUnload</c> need no casts.
/// </summary>
public partial class PeftModel
{
    private const string DefaultAdapter = "default";
    private readonly Dictionary<string, AdapterConfig> _configs = new(StringComparer.Ordinal);
    private readonly List<string> _adapterOrder = [];
    private readonly Dictionary<string, TrainingController?> _controllers = new(StringComparer.Ordinal);
    private readonly List<AdaptedModule> _layers = [];
    private readonly List<SavedModule> _saved = [];
    private readonly List<string> _warnings = [];
    private readonly AdapterSelection _selection = new();
    private List<string> _active = [];
    private bool _unloaded;

    private protected PeftModel(nn.Module model)
    {
        Model = model;
    }

    /// <summary>The wrapped model (modified in place).</summary>
    public nn.Module Model { get; }

    /// <summary>The configuration of every adapter, by name.</summary>
    public IReadOnlyDictionary<string, AdapterConfig> Configs => _configs;

    /// <summary>The adapters in the order they were added.</summary>
    public IReadOnlyList<string> AdapterNames => _adapterOrder;

    /// <summary>The active adapters (usually one).</summary>
    public IReadOnlyList<string> ActiveAdapters => _active;

    /// <summary>The first active adapter.</summary>
    public string ActiveAdapter => _active.Count > 0 ? _active[0] : throw new InvalidOperationException("no adapter is active");

    /// <summary>Every adapter layer in the model, by its module name.</summary>
    public IReadOnlyList<AdaptedModule> AdaptedModules => _layers;

    /// <summary>Every <c>modules_to_save</c> wrapper, by its module name.</summary>
    public IReadOnlyList<SavedModule> SavedModules => _saved;

    /// <summary>
    /// Things that were accepted but look like mistakes (pattern keys that matched nothing, an adaptive
    /// method trained without its <see cref="TrainingController"/> hooks — see <see cref="BeginTraining"/>, ...).
    /// </summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>
    /// Injects an adapter described by <paramref name="config"/> into <paramref name="model"/> (PEFT's
    /// <c>get_peft_model</c>). The adapter is active and trainable unless the config says inference mode.
    /// </summary>
    /// <param name="model">Any TorchSharp module tree; it is modified in place.</param>
    /// <param name="config">The adapter's method and targets.</param>
    /// <param name="adapterName">The adapter's name.</param>
    /// <param name="generator">Random generator for adapter initialisation (null: the global one).</param>
    /// <exception cref="TargetModulesNotFoundException">The targets match no module.</exception>
    /// <exception cref="UnsupportedTargetModuleException">A target is not a linear layer.</exception>
    /// <exception cref="PeftConfigurationException">The configuration is invalid.</exception>
    public static PeftModel Create(nn.Module model, AdapterConfig config, string adapterName = DefaultAdapter, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Initialize(new PeftModel(model), config, adapterName, generator);
    }

    /// <summary>
    /// Injects an adapter into <paramref name="model"/> like <see cref="Create(nn.Module, AdapterConfig, string, Generator?)"/>,
    /// returning a <see cref="PeftModel{TModel}"/> whose <see cref="PeftModel{TModel}.Model"/> is a
    /// <typeparamref name="TModel"/> and whose <see cref="PeftModel{TModel}.MergeAndUnload"/> returns one.
    /// </summary>
    /// <typeparam name="TModel">The model's type.</typeparam>
    /// <param name="model">Any TorchSharp module tree; it is modified in place.</param>
    /// <param name="config">The adapter's method and targets.</param>
    /// <param name="adapterName">The adapter's name.</param>
    /// <param name="generator">Random generator for adapter initialisation (null: the global one).</param>
    /// <exception cref="TargetModulesNotFoundException">The targets match no module.</exception>
    /// <exception cref="UnsupportedTargetModuleException">A target is not a linear layer.</exception>
    /// <exception cref="PeftConfigurationException">The configuration is invalid.</exception>
    public static PeftModel<TModel> Create<TModel>(TModel model, AdapterConfig config, string adapterName = DefaultAdapter, Generator? generator = null)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(model);
        return Initialize(new PeftModel<TModel>(model), config, adapterName, generator);
    }

    private static T Initialize<T>(T peft, AdapterConfig config, string adapterName, Generator? generator)
        where T : PeftModel
    {
        foreach (var parameter in peft.Model.parameters())
        {
            parameter.requires_grad = false;
        }

        peft.Inject(adapterName, config, generator);
        peft.SetAdapter(adapterName);
        return peft;
    }

    /// <summary>Adds another adapter (inactive until <see cref="SetAdapter"/>), PEFT's <c>add_adapter</c>.</summary>
    public void AddAdapter(string adapterName, AdapterConfig config, Generator? generator = null)
    {
        ThrowIfUnloaded();
        Inject(adapterName, config, generator);
        UpdateTrainability();
    }

    /// <summary>Makes <paramref name="adapterName"/> the only active adapter and, unless in inference mode, the trainable one.</summary>
    public void SetAdapter(string adapterName) => SetActiveAdapters([adapterName]);

    /// <summary>Activates several adapters at once; their increments are summed.</summary>
    public void SetActiveAdapters(IEnumerable<string> adapterNames)
    {
        ThrowIfUnloaded();
        var names = adapterNames.ToList();
        foreach (var name in names)
        {
            GetConfig(name);
        }

        _active = names.Distinct(StringComparer.Ordinal).ToList();
        foreach (var module in _layers)
        {
            module.Layer.SetActiveAdapters(_active);
        }

        foreach (var saved in _saved)
        {
            saved.Wrapper.SetActiveAdapters(_active);
        }

        UpdateTrainability();
    }

    /// <summary>Removes an adapter everywhere. A merged adapter must be unmerged first.</summary>
    public void DeleteAdapter(string adapterName)
    {
        ThrowIfUnloaded();
        GetConfig(adapterName);
        var merged = _layers.FirstOrDefault(m => m.Layer.MergedAdapters.Contains(adapterName));
        if (merged is not null)
        {
            throw new InvalidOperationException($"adapter '{adapterName}' is merged into '{merged.Name}'; unmerge before deleting it");
        }

        foreach (var module in _layers.Where(m => m.Layer.HasAdapter(adapterName)))
        {
            module.Layer.RemovePath(adapterName);
        }

        foreach (var saved in _saved)
        {
            saved.Wrapper.RemoveAdapter(adapterName);
        }

        _configs.Remove(adapterName);
        _controllers.Remove(adapterName);
        _adapterOrder.Remove(adapterName);
        var remaining = _active.Where(a => a != adapterName).ToList();
        if (remaining.Count == 0 && _adapterOrder.Count > 0)
        {
            remaining.Add(_adapterOrder[0]);
        }

        SetActiveAdapters(remaining);
    }

    /// <summary>The configuration of <paramref name="adapterName"/>.</summary>
    public AdapterConfig GetConfig(string adapterName) =>
        _configs.TryGetValue(adapterName, out var config)
            ? config
            : throw new KeyNotFoundException($"no adapter named '{adapterName}' (present: {string.Join(", ", _adapterOrder)})");

    /// <summary>The training-time controller of <paramref name="adapterName"/> (default: the active adapter), or null when its method has none.</summary>
    public TrainingController? GetController(string? adapterName = null)
    {
        var name = adapterName ?? ActiveAdapter;
        GetConfig(name);
        return _controllers[name];
    }

    /// <summary>The adapted modules that carry <paramref name="adapterName"/>.</summary>
    public IReadOnlyList<AdaptedModule> ModulesOf(string adapterName) =>
        _layers.Where(m => m.Layer.HasAdapter(adapterName)).ToList();

    /// <summary>
    /// Chooses the adapters the model uses on the calling thread (and its async flow) until the
    /// returned scope is disposed, leaving <see cref="ActiveAdapters"/> and other threads alone: two
    /// threads can run inference with different adapters on one base model at the same time and get
    /// what each would get alone.
    /// </summary>
    /// <remarks>
    /// Concurrent inference is safe while nothing changes the model: training, <see cref="SetAdapter"/>,
    /// <see cref="DisableAdapters"/>, merging, loading or deleting adapters, or changing a path's rank
    /// (DyLoRA) must not run at the same time — those are not thread-safe. Put the model in eval mode
    /// first (<c>Model.eval()</c>), since dropout draws from a shared generator.
    /// </remarks>
    /// <exception cref="KeyNotFoundException">An adapter name is unknown.</exception>
    /// <exception cref="InvalidOperationException">An adapter is merged into the base weights (they are shared by every thread).</exception>
    public IDisposable UseAdapters(params string[] adapterNames)
    {
        ThrowIfUnloaded();
        ArgumentNullException.ThrowIfNull(adapterNames);
        foreach (var name in adapterNames)
        {
            GetConfig(name);
        }

        if (_layers.FirstOrDefault(m => m.Layer.IsMerged) is { } merged)
        {
            throw new InvalidOperationException($"adapters [{string.Join(", ", merged.Layer.MergedAdapters)}] are merged into '{merged.Name}': the base weights are shared by every thread, so choosing adapters per thread needs them unmerged (UnmergeAdapter) first");
        }

        return _selection.Use(adapterNames.Distinct(StringComparer.Ordinal).ToList());
    }

    /// <summary>
    /// Within the returned scope every adapter layer and <c>modules_to_save</c> wrapper behaves as the
    /// base model (merged adapters are unmerged first); disposing the scope restores the adapters.
    /// </summary>
    public IDisposable DisableAdapters()
    {
        ThrowIfUnloaded();
        var layers = _layers.Select(m => (m.Layer, m.Layer.AdaptersDisabled)).ToList();
        var wrappers = _saved.Select(s => (s.Wrapper, s.Wrapper.AdaptersDisabled)).ToList();
        foreach (var (layer, _) in layers)
        {
            layer.AdaptersDisabled = true;
        }

        foreach (var (wrapper, _) in wrappers)
        {
            wrapper.AdaptersDisabled = true;
        }

        return new RestoreScope(() =>
        {
            foreach (var (layer, previous) in layers)
            {
                layer.AdaptersDisabled = previous;
            }

            foreach (var (wrapper, previous) in wrappers)
            {
                wrapper.AdaptersDisabled = previous;
            }
        });
    }

    /// <summary>Merges <paramref name="adapterNames"/> (default: the active adapters) into the base weights.</summary>
    /// <exception cref="InvalidOperationException">A <see cref="UseAdapters"/> scope is open on some thread (merging would change the weights under it).</exception>
    public void MergeAdapter(IEnumerable<string>? adapterNames = null, bool safeMerge = false)
    {
        ThrowIfUnloaded();
        if (_selection.OpenScopes > 0)
        {
            throw new InvalidOperationException($"{_selection.OpenScopes} UseAdapters scope(s) are open: merging would change the base weights other threads are using; dispose them first");
        }

        var names = (adapterNames ?? _active).ToList();
        foreach (var name in names)
        {
            GetConfig(name);
        }

        WarnIfHooksSkipped("merging");
        foreach (var module in _layers)
        {
            module.Layer.Merge(names.Where(module.Layer.HasAdapter), safeMerge);
        }
    }

    /// <summary>Subtracts every merged adapter from the base weights (exact in fp32 up to rounding).</summary>
    public void UnmergeAdapter()
    {
        ThrowIfUnloaded();
        foreach (var module in _layers)
        {
            module.Layer.Unmerge();
        }
    }

    /// <summary>
    /// Merges the adapters into the base weights, then puts every base layer back in place of its
    /// adapter layer (and each <c>modules_to_save</c> module's active copy in place of its wrapper).
    /// Returns the plain model; this <see cref="PeftModel"/> is unusable afterwards.
    /// </summary>
    public nn.Module MergeAndUnload(IEnumerable<string>? adapterNames = null, bool safeMerge = false)
    {
        MergeAdapter(adapterNames, safeMerge);
        return Restore(keepTrainedCopies: true);
    }

    /// <summary>
    /// Removes every adapter without merging (merged adapters are unmerged first) and puts the original
    /// modules back, including the original <c>modules_to_save</c> modules. Returns the base model.
    /// </summary>
    public nn.Module Unload()
    {
        UnmergeAdapter();
        return Restore(keepTrainedCopies: false);
    }

    /// <summary>
    /// Every parameter with <c>requires_grad</c> (the active adapters' paths, <c>modules_to_save</c>
    /// copies and trainable biases), each tensor once (shared tensors are not repeated). This includes
    /// parameters a method's controller steps with its own optimizer (SoRA's gates,
    /// <see cref="TrainingController.OwnedParameters"/>): for your optimizer use
    /// <see cref="TrainingSession.Parameters"/> from <see cref="BeginTraining"/> instead, which leaves them out.
    /// </summary>
    public IReadOnlyList<Parameter> GetTrainableParameters() =>
        UniqueParameters().Where(p => p.requires_grad).ToList();

    /// <summary>
    /// Every module's <see cref="LowRankPath.EffectiveRank"/> for <paramref name="adapterName"/>
    /// (default: the active adapter): module name → the components that contribute now.
    /// </summary>
    public Dictionary<string, int> GetEffectiveRanks(string? adapterName = null)
    {
        var name = adapterName ?? ActiveAdapter;
        WarnIfHooksSkipped("reading the effective ranks");
        return ModulesOf(name).ToDictionary(m => m.Name, m => m.Layer.GetPath(name).EffectiveRank, StringComparer.Ordinal);
    }

    /// <summary>
    /// Trainable parameters inside the adapter paths of <paramref name="adapterName"/> (default: the
    /// active adapter), each tensor once (tied tensors count once); <c>modules_to_save</c> copies and
    /// biases are not included.
    /// </summary>
    public long GetAdapterParameterCount(string? adapterName = null)
    {
        var name = adapterName ?? ActiveAdapter;
        var seen = new HashSet<IntPtr>();
        return ModulesOf(name).SelectMany(m => m.Layer.GetPath(name).parameters()).Where(p => p.requires_grad && seen.Add(p.Handle)).Sum(p => p.numel());
    }

    /// <summary>Trainable and total parameter counts.</summary>
    public TrainableParameterReport GetParameterReport()
    {
        long trainable = 0, total = 0;
        foreach (var parameter in UniqueParameters())
        {
            total += parameter.numel();
            if (parameter.requires_grad)
            {
                trainable += parameter.numel();
            }
        }

        return new TrainableParameterReport(trainable, total);
    }

    /// <summary>Prints PEFT's one-line parameter report.</summary>
    public void PrintTrainableParameters(TextWriter? writer = null) =>
        (writer ?? Console.Out).WriteLine(GetParameterReport());

    private IEnumerable<Parameter> UniqueParameters()
    {
        var seen = new HashSet<IntPtr>();
        foreach (var parameter in Model.parameters())
        {
            if (seen.Add(parameter.Handle))
            {
                yield return parameter;
            }
        }
    }

    private void Inject(string adapterName, AdapterConfig config, Generator? generator)
    {
        AdapterLayer.ValidateAdapterName(adapterName);
        ArgumentNullException.ThrowIfNull(config);
        if (_configs.ContainsKey(adapterName))
        {
            throw new ArgumentException($"an adapter named '{adapterName}' already exists", nameof(adapterName));
        }

        if (config.TargetModules is null && Model is IModelTypeProvider typed)
        {
            config.TargetModules = DefaultTargetModules.For(typed.ModelType)
                ?? throw new PeftConfigurationException($"the config sets no target modules and PEFT has no default for model type '{typed.ModelType}'");
        }

        config.BaseModelNameOrPath ??= (Model as IModelNameProvider)?.NameOrPath;
        config.Validate();
        var targets = FindTargets(config);
        var savedTargets = FindModulesToSave(config);

        foreach (var (name, module) in targets.Where(t => t.Module is not AdapterLayer))
        {
            ModuleSurgery.CheckReplaceable(Model, name, typeof(AdapterLayer));
        }

        foreach (var (name, module) in savedTargets.Where(t => t.Module is not ModulesToSaveWrapper))
        {
            ModuleSurgery.CheckReplaceable(Model, name, typeof(ModulesToSaveWrapper));
        }

        var described = targets.Select(t => KeyValuePair.Create(t.Name, (t.Module as AdapterLayer)?.Target ?? LinearTarget.TryDescribe(t.Module)!)).ToList();
        var context = new AdapterBuildContext(adapterName, generator, described);
        var built = new List<(string Name, AdapterLayer? Existing, LowRankPath Path, nn.Module Module)>();
        for (var i = 0; i < targets.Count; i++)
        {
            var (name, module) = targets[i];
            built.Add((name, module as AdapterLayer, config.Method.CreatePath(config, name, described[i].Value, context), module));
        }

        foreach (var (name, existing, path, module) in built)
        {
            if (existing is not null)
            {
                existing.AddPath(adapterName, path);
                continue;
            }

            var layer = new AdapterLayer((nn.Module<Tensor, Tensor>)module) { Selection = _selection };
            layer.AddPath(adapterName, path);
            ModuleSurgery.ReplaceChild(Model, name, layer);
            _layers.Add(new AdaptedModule(name, layer));
        }

        foreach (var (name, module) in savedTargets)
        {
            if (module is ModulesToSaveWrapper wrapper)
            {
                wrapper.AddAdapter(adapterName, name);
                continue;
            }

            wrapper = new ModulesToSaveWrapper((nn.Module<Tensor, Tensor>)module) { Selection = _selection };
            wrapper.AddAdapter(adapterName, name);
            ModuleSurgery.ReplaceChild(Model, name, wrapper);
            _saved.Add(new SavedModule(name, wrapper));
        }

        _configs.Add(adapterName, config);
        _adapterOrder.Add(adapterName);
        var adapted = ModulesOf(adapterName);
        _controllers.Add(adapterName, config.Method.CreateController(config, adapterName, adapted));
        _warnings.AddRange(config.Method.CheckAfterInjection(config, adapted.Select(m => m.Name).ToList()).Select(w => $"adapter '{adapterName}': {w}"));
        foreach (var module in _layers)
        {
            module.Layer.SetActiveAdapters(_active);
        }
    }

    /// <summary>The modules the config targets, validated; nothing is changed.</summary>
    private List<(string Name, nn.Module Module)> FindTargets(AdapterConfig config)
    {
        var candidates = CandidateModules();
        var linearNames = candidates.Where(c => IsLinearLike(c.Module)).Select(c => c.Name).ToList();
        var targets = config.TargetModules!;
        HashSet<string>? allLinear = null;
        if (targets.Kind == TargetModulesKind.AllLinear)
        {
            allLinear = linearNames.ToHashSet(StringComparer.Ordinal);
            allLinear.ExceptWith(OutputHeads(linearNames));
        }

        var matched = new List<(string, nn.Module)>();
        int excluded = 0, filtered = 0;
        foreach (var (name, module) in candidates)
        {
            var hit = allLinear?.Contains(name) ?? TargetSelector.Matches(targets, name);
            if (!hit)
            {
                continue;
            }

            if ((config.ExcludeModules is { } exclude && exclude.Kind != TargetModulesKind.AllLinear && TargetSelector.Matches(exclude, name)) ||
                TargetSelector.IsInsideModulesToSave(config.ModulesToSave, name))
            {
                excluded++;
                continue;
            }

            if (!TargetSelector.PassesLayerFilter(config, name))
            {
                filtered++;
                continue;
            }

            if (!IsLinearLike(module))
            {
                var inside = linearNames.Where(n => n.StartsWith(name + ".", StringComparison.Ordinal)).Take(8).ToList();
                var hint = inside.Count > 0 ? $"; linear layers inside it: {string.Join(", ", inside)}" : string.Empty;
                throw new UnsupportedTargetModuleException(
                    $"target modules {targets} matched '{name}', a {module.GetType().Name}; adapters wrap Linear and Conv1D layers only{hint}",
                    name);
            }

            matched.Add((name, module));
        }

        if (matched.Count == 0)
        {
            var near = TargetSelector.NearCandidates(targets, linearNames);
            var reason = excluded > 0 && filtered == 0
                ? $"every match was excluded by ExcludeModules/ModulesToSave ({excluded})"
                : filtered > 0
                    ? $"{filtered} match(es) were outside LayersToTransform [{string.Join(", ", config.LayersToTransform ?? [])}] (LayersPattern: {string.Join(", ", config.LayersPattern ?? [])})"
                    : "no module name matches";
            var nearText = near.Count > 0 ? $". Linear layers with similar names: {string.Join(", ", near)}" : ". The model has no Linear or Conv1D layer";
            throw new TargetModulesNotFoundException($"target modules {targets} matched nothing in the model: {reason}{nearText}", near);
        }

        return matched;
    }

    private List<(string Name, nn.Module Module)> FindModulesToSave(AdapterConfig config)
    {
        if (config.ModulesToSave is not { Count: > 0 } entries)
        {
            return [];
        }

        var candidates = CandidateModules();
        var found = candidates.Where(c => entries.Any(e => TargetSelector.MatchesSuffix(c.Name, e))).ToList();
        if (found.Count == 0)
        {
            var near = TargetSelector.NearCandidates(TargetModules.FromNames([.. entries]), candidates.Select(c => c.Name));
            throw new TargetModulesNotFoundException(
                $"modules_to_save [{string.Join(", ", entries)}] matched no module. Modules with similar names: {string.Join(", ", near)}", near);
        }

        foreach (var entry in entries.Where(e => !found.Any(f => TargetSelector.MatchesSuffix(f.Name, e))))
        {
            _warnings.Add($"modules_to_save entry '{entry}' matched no module");
        }

        foreach (var (name, module) in found)
        {
            if (module is not ModulesToSaveWrapper && module is not nn.Module<Tensor, Tensor>)
            {
                throw new UnsupportedTargetModuleException($"modules_to_save '{name}' is a {module.GetType().Name}; only Tensor→Tensor modules can be wrapped", name);
            }
        }

        return found;
    }

    /// <summary>Named modules of the model, leaving out the insides of adapter layers and wrappers.</summary>
    private List<(string Name, nn.Module Module)> CandidateModules()
    {
        var result = new List<(string, nn.Module)>();
        var wrappers = new List<string>();
        foreach (var (name, module) in Model.named_modules())
        {
            if (name.Length == 0 || wrappers.Any(w => name.StartsWith(w, StringComparison.Ordinal)))
            {
                continue;
            }

            if (module is AdapterLayer or ModulesToSaveWrapper)
            {
                wrappers.Add(name + ".");
            }

            result.Add((name, module));
        }

        return result;
    }

    private static bool IsLinearLike(nn.Module module) => module is AdapterLayer || LinearTarget.IsSupported(module);

    /// <summary>
    /// The output head that <c>all-linear</c> leaves out: what the model reports through
    /// <see cref="IOutputHeadProvider"/>; else <c>lm_head</c>, <c>score</c> or <c>classifier</c> when
    /// present; else the last linear layer in registration order.
    /// </summary>
    private IEnumerable<string> OutputHeads(IReadOnlyList<string> linearNames)
    {
        if (Model is IOutputHeadProvider provider)
        {
            return provider.OutputHeadNames;
        }

        foreach (var head in new[] { "lm_head", "score", "classifier" })
        {
            var name = linearNames.FirstOrDefault(n => TargetSelector.MatchesSuffix(n, head));
            if (name is not null)
            {
                return [name];
            }
        }

        return linearNames.Count > 0 ? [linearNames[^1]] : [];
    }

    private void UpdateTrainability()
    {
        foreach (var parameter in Model.parameters())
        {
            parameter.requires_grad = false;
        }

        foreach (var name in _active)
        {
            var config = _configs[name];
            if (config.InferenceMode)
            {
                continue;
            }

            foreach (var module in _layers.Where(m => m.Layer.HasAdapter(name)))
            {
                module.Layer.GetPath(name).SetTrainable(true);
                if (config.Bias == BiasMode.AdapterOnly && module.Layer.Target.Bias is { } bias)
                {
                    bias.requires_grad = true;
                }
            }

            foreach (var saved in _saved.Where(s => s.Wrapper.AdapterNames.Contains(name)))
            {
                foreach (var parameter in saved.Wrapper.GetCopy(name).parameters())
                {
                    parameter.requires_grad = true;
                }
            }

            if (config.Bias == BiasMode.All)
            {
                foreach (var (parameterName, parameter) in Model.named_parameters())
                {
                    if (parameterName == "bias" || parameterName.EndsWith(".bias", StringComparison.Ordinal))
                    {
                        parameter.requires_grad = true;
                    }
                }
            }
        }
    }

    private nn.Module Restore(bool keepTrainedCopies)
    {
        ThrowIfUnloaded();
        foreach (var module in _layers)
        {
            ModuleSurgery.ReplaceChild(Model, module.Name, module.Layer.BaseLayer);
        }

        foreach (var saved in _saved)
        {
            var replacement = keepTrainedCopies ? saved.Wrapper.CurrentModule : saved.Wrapper.OriginalModule;
            ModuleSurgery.ReplaceChild(Model, saved.Name, replacement);
        }

        _unloaded = true;
        return Model;
    }

    private void ThrowIfUnloaded()
    {
        if (_unloaded)
        {
            throw new InvalidOperationException("the adapters were unloaded; this PeftModel can no longer be used");
        }
    }

    private sealed class RestoreScope(Action restore) : IDisposable
    {
        private Action? _restore = restore;

        public void Dispose()
        {
            _restore?.Invoke();
            _restore = null;
        }
    }
}

/// <summary>A <c>modules_to_save</c> wrapper and the module name it replaced.</summary>
/// <param name="Name">The module's name in the model.</param>
/// <param name="Wrapper">The wrapper.</param>
public sealed record SavedModule(string Name, ModulesToSaveWrapper Wrapper);
