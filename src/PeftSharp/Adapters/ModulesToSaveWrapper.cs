using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// PEFT's <c>modules_to_save</c>: keeps the original module frozen and one trainable deep copy per
/// adapter; the forward runs the active adapter's copy (the original when adapters are disabled or
/// none applies). Registered children: <c>original_module</c> and <c>modules_to_save.&lt;adapter&gt;</c>.
/// </summary>
public sealed class ModulesToSaveWrapper : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> original_module;
    private readonly AdapterModuleSet modules_to_save;

    /// <summary>Wraps <paramref name="original"/> (frozen from now on).</summary>
    public ModulesToSaveWrapper(nn.Module<Tensor, Tensor> original) : base(nameof(ModulesToSaveWrapper))
    {
        original_module = original;
        modules_to_save = new AdapterModuleSet();
        foreach (var parameter in original.parameters())
        {
            parameter.requires_grad = false;
        }

        RegisterComponents();
    }

    /// <summary>The frozen original module.</summary>
    public nn.Module<Tensor, Tensor> OriginalModule => original_module;

    /// <summary>The adapter whose copy the forward uses, or null for the original.</summary>
    public string? ActiveAdapter { get; private set; }

    /// <summary>When true the forward uses the original module.</summary>
    public bool AdaptersDisabled { get; set; }

    /// <summary>The owning model's per-thread adapter choice (see <see cref="PeftModel.UseAdapters"/>).</summary>
    internal AdapterSelection? Selection { get; set; }

    /// <summary>The adapters that have a copy.</summary>
    public IReadOnlyCollection<string> AdapterNames => modules_to_save.Names;

    /// <summary>The copy of adapter <paramref name="adapterName"/>.</summary>
    public nn.Module<Tensor, Tensor> GetCopy(string adapterName) => modules_to_save.Get(adapterName);

    /// <summary>Adds a deep copy of the original for <paramref name="adapterName"/>.</summary>
    public void AddAdapter(string adapterName, string moduleName)
    {
        if (modules_to_save.Contains(adapterName))
        {
            return;
        }

        modules_to_save.Add(adapterName, ModuleCloner.Clone(original_module, moduleName));
    }

    /// <summary>Removes the copy of <paramref name="adapterName"/>.</summary>
    public void RemoveAdapter(string adapterName)
    {
        modules_to_save.Remove(adapterName);
        if (ActiveAdapter == adapterName)
        {
            ActiveAdapter = null;
        }
    }

    /// <summary>Makes the copy of the first of <paramref name="adapterNames"/> that has one the one the forward uses.</summary>
    public void SetActiveAdapters(IEnumerable<string> adapterNames) =>
        ActiveAdapter = adapterNames.FirstOrDefault(modules_to_save.Contains);

    /// <summary>The module the forward runs now.</summary>
    public nn.Module<Tensor, Tensor> CurrentModule
    {
        get
        {
            var adapter = Selection?.Current is { } chosen ? chosen.FirstOrDefault(modules_to_save.Contains) : ActiveAdapter;
            return AdaptersDisabled || adapter is null ? original_module : modules_to_save.Get(adapter);
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => CurrentModule.forward(input);
}

/// <summary>A registered set of modules keyed by adapter name (children named by the adapter).</summary>
internal sealed class AdapterModuleSet : nn.Module
{
    private readonly Dictionary<string, nn.Module<Tensor, Tensor>> _modules = new(StringComparer.Ordinal);

    public AdapterModuleSet() : base(nameof(AdapterModuleSet))
    {
    }

    public IReadOnlyCollection<string> Names => _modules.Keys;

    public bool Contains(string name) => _modules.ContainsKey(name);

    public nn.Module<Tensor, Tensor> Get(string name) =>
        _modules.TryGetValue(name, out var module) ? module : throw new KeyNotFoundException($"no copy for adapter '{name}'");

    public void Add(string name, nn.Module<Tensor, Tensor> module)
    {
        AdapterLayer.ValidateAdapterName(name);
        register_module(name, module);
        _modules.Add(name, module);
    }

    public void Remove(string name)
    {
        if (_modules.Remove(name, out var module))
        {
            register_module(name, null!);
            module.Dispose();
        }
    }
}
