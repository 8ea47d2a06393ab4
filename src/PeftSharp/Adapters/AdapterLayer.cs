using System.Text.RegularExpressions;
using PeftSharp.Runtime;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// Wraps one frozen linear layer and adds the increments of its named low-rank paths:
/// <c>forward(x) = base(x) + Σ_active path(x)</c>. One layer serves every method and several
/// named adapters at once. Registered children: <c>base_layer</c> and one child per adapter name.
/// </summary>
public sealed partial class AdapterLayer : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> base_layer;
    private readonly Dictionary<string, LowRankPath> _paths = new(StringComparer.Ordinal);
    private readonly List<string> _active = [];
    private readonly List<string> _merged = [];
    private readonly Dictionary<string, long> _trainingForwards = new(StringComparer.Ordinal);

    /// <summary>Wraps <paramref name="baseLayer"/> (a <see cref="TorchSharp.Modules.Linear"/> or <see cref="Layers.Conv1D"/>) and freezes its parameters.</summary>
    public AdapterLayer(nn.Module<Tensor, Tensor> baseLayer) : base(nameof(AdapterLayer))
    {
        Target = LinearTarget.TryDescribe(baseLayer)
            ?? throw new ArgumentException($"an adapter layer wraps a Linear or Conv1D, not a {baseLayer.GetType().Name}", nameof(baseLayer));
        base_layer = baseLayer;
        foreach (var parameter in baseLayer.parameters())
        {
            parameter.requires_grad = false;
        }

        RegisterComponents();
    }

    /// <summary>The wrapped frozen layer.</summary>
    public nn.Module<Tensor, Tensor> BaseLayer => base_layer;

    /// <summary>Sizes, weight and layout of the wrapped layer.</summary>
    public LinearTarget Target { get; }

    /// <summary>The adapters present on this layer, in the order they were added.</summary>
    public IReadOnlyCollection<string> AdapterNames => _paths.Keys;

    /// <summary>The adapters whose paths the forward adds (unless disabled or merged).</summary>
    public IReadOnlyList<string> ActiveAdapters => _active;

    /// <summary>The adapters currently merged into the base weight, in merge order.</summary>
    public IReadOnlyList<string> MergedAdapters => _merged;

    /// <summary>True when at least one adapter is merged into the base weight.</summary>
    public bool IsMerged => _merged.Count > 0;

    /// <summary>When true the forward returns the base output only (merged adapters are unmerged first).</summary>
    public bool AdaptersDisabled { get; set; }

    /// <summary>The owning model's per-thread adapter choice (see <see cref="PeftModel.UseAdapters"/>).</summary>
    internal AdapterSelection? Selection { get; set; }

    /// <summary>The path of adapter <paramref name="adapterName"/>.</summary>
    /// <exception cref="KeyNotFoundException">The layer has no such adapter.</exception>
    public LowRankPath GetPath(string adapterName) =>
        _paths.TryGetValue(adapterName, out var path)
            ? path
            : throw new KeyNotFoundException($"adapter '{adapterName}' is not on this layer (present: {string.Join(", ", _paths.Keys)})");

    /// <summary>True when the layer has adapter <paramref name="adapterName"/>.</summary>
    public bool HasAdapter(string adapterName) => _paths.ContainsKey(adapterName);

    /// <summary>Adds a path under <paramref name="adapterName"/> (inactive until <see cref="SetActiveAdapters"/>).</summary>
    public void AddPath(string adapterName, LowRankPath path)
    {
        ValidateAdapterName(adapterName);
        ArgumentNullException.ThrowIfNull(path);
        if (_paths.ContainsKey(adapterName))
        {
            throw new ArgumentException($"adapter '{adapterName}' already exists on this layer", nameof(adapterName));
        }

        if (path.InFeatures != Target.InFeatures || path.OutFeatures != Target.OutFeatures)
        {
            throw new ArgumentException(
                $"path sizes in={path.InFeatures}, out={path.OutFeatures} do not fit the layer (in={Target.InFeatures}, out={Target.OutFeatures})",
                nameof(path));
        }

        register_module(adapterName, path);
        _paths.Add(adapterName, path);
    }

    /// <summary>Removes adapter <paramref name="adapterName"/>; a merged adapter must be unmerged first.</summary>
    public void RemovePath(string adapterName)
    {
        var path = GetPath(adapterName);
        if (_merged.Contains(adapterName))
        {
            throw new InvalidOperationException($"adapter '{adapterName}' is merged into the base weight; unmerge it before deleting it");
        }

        _active.Remove(adapterName);
        _paths.Remove(adapterName);
        register_module(adapterName, null!);
        path.Dispose();
    }

    /// <summary>Sets which adapters the forward adds, in order. Unknown names are ignored (the layer may not carry every adapter of a model).</summary>
    public void SetActiveAdapters(IEnumerable<string> adapterNames)
    {
        _active.Clear();
        foreach (var name in adapterNames)
        {
            if (_paths.ContainsKey(name) && !_active.Contains(name))
            {
                _active.Add(name);
            }
        }
    }

    /// <summary>How many forwards in training mode added <paramref name="adapterName"/>'s path (the skipped-hooks warning reads it).</summary>
    internal long TrainingForwardsOf(string adapterName) => _trainingForwards.GetValueOrDefault(adapterName);

    private void CountTrainingForward(IReadOnlyList<string> active)
    {
        foreach (var name in active)
        {
            if (!_merged.Contains(name))
            {
                _trainingForwards[name] = _trainingForwards.GetValueOrDefault(name) + 1;
            }
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (AdaptersDisabled)
        {
            if (IsMerged)
            {
                Unmerge();
            }

            return RowLinear.Forward(base_layer, input);
        }

        // A per-thread choice (PeftModel.UseAdapters) replaces the model-wide active adapters; it is
        // only allowed while nothing is merged, so every chosen path runs here.
        IReadOnlyList<string> active = Selection?.Current is { } chosen ? chosen.Where(_paths.ContainsKey).ToList() : _active;
        var pending = 0;
        foreach (var name in active)
        {
            if (!_merged.Contains(name))
            {
                pending++;
            }
        }

        if (pending == 0)
        {
            return RowLinear.Forward(base_layer, input);
        }

        if (training)
        {
            CountTrainingForward(active);
        }

        // Paths work on 2-D (tokens, features) tensors so they can accumulate into the base output in place.
        using var scope = NewDisposeScope();
        var flat = input.dim() == 2 ? input : input.reshape(-1, Target.InFeatures);
        // One row without gradients (a decoding step) takes the row kernel for the frozen layer; the paths add to it.
        var row = RowLinear.TryForward(base_layer, flat);
        var result = row is null && pending == 1 ? FusedForward(active, flat) : null;
        if (result is null)
        {
            result = row ?? base_layer.forward(flat);

            // A variant that reads the frozen output (DoRA) gets it clean: a copy only when other paths add to it first.
            Tensor? baseOutput = null;
            foreach (var name in active)
            {
                if (!_merged.Contains(name) && _paths[name].NeedsBaseOutput)
                {
                    baseOutput = pending == 1 ? result : result.clone();
                    break;
                }
            }

            foreach (var name in active)
            {
                if (!_merged.Contains(name))
                {
                    var path = _paths[name];
                    result = path.NeedsBaseOutput ? path.AddDelta(result, flat, baseOutput!) : path.AddDelta(result, flat);
                }
            }
        }

        if (input.dim() != 2)
        {
            var shape = input.shape;
            shape[^1] = Target.OutFeatures;
            result = result.view(shape);
        }

        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The one pending path's <see cref="LowRankPath.FusedForward"/> (frozen layer and increment in one kernel), or null.</summary>
    private Tensor? FusedForward(IReadOnlyList<string> active, Tensor flat)
    {
        foreach (var name in active)
        {
            if (!_merged.Contains(name))
            {
                var path = _paths[name];
                return path.NeedsBaseOutput ? null : path.FusedForward(Target, flat);
            }
        }

        return null;
    }

    /// <summary>
    /// Adds the increments of <paramref name="adapterNames"/> (default: the active adapters) into the
    /// base weight. Already merged adapters are skipped. With <paramref name="safeMerge"/> the sum is
    /// formed on a copy and checked for NaN/Inf before the weight is touched.
    /// </summary>
    /// <returns>The adapters merged by this call.</returns>
    public IReadOnlyList<string> Merge(IEnumerable<string>? adapterNames = null, bool safeMerge = false)
    {
        var done = new List<string>();
        foreach (var name in (adapterNames ?? _active).ToList())
        {
            var path = GetPath(name);
            if (_merged.Contains(name))
            {
                continue;
            }

            if (!path.SupportsMerge)
            {
                throw new InvalidOperationException($"adapter '{name}' ({path.GetType().Name}) depends on the input and cannot be merged into the weight");
            }

            using (no_grad())
            using (NewDisposeScope())
            {
                // A bf16/fp16 weight is merged in fp32 and rounded once (PEFT #1388): adding a rounded
                // increment to a rounded weight drifts from the unmerged forward.
                var weight = Target.Weight;
                if (safeMerge || IsLowPrecision(weight))
                {
                    var merged = weight.to(ScalarType.Float32, copy: true);
                    path.MergeInto(Oriented(merged));
                    if (safeMerge && !isfinite(merged).all().item<bool>())
                    {
                        path.UnmergeFrom(Oriented(merged));
                        throw new InvalidOperationException($"merging adapter '{name}' produces NaN or Inf in the base weight; nothing was changed");
                    }

                    weight.copy_(merged);
                }
                else
                {
                    path.MergeInto(Oriented(weight));
                }
            }

            _merged.Add(name);
            done.Add(name);
        }

        return done;
    }

    /// <summary>Subtracts every merged increment from the base weight, most recent first.</summary>
    public void Unmerge()
    {
        for (var i = _merged.Count - 1; i >= 0; i--)
        {
            var path = _paths[_merged[i]];
            using (no_grad())
            using (NewDisposeScope())
            {
                var weight = Target.Weight;
                if (IsLowPrecision(weight))
                {
                    var unmerged = weight.to(ScalarType.Float32, copy: true);
                    path.UnmergeFrom(Oriented(unmerged));
                    weight.copy_(unmerged);
                }
                else
                {
                    path.UnmergeFrom(Oriented(weight));
                }
            }

            _merged.RemoveAt(i);
        }
    }

    private static bool IsLowPrecision(Tensor weight) => weight.dtype is ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>The weight as an <c>(out, in)</c> view (Conv1D stores it transposed).</summary>
    private Tensor Oriented(Tensor weight) => Target.FanInFanOut ? weight.t() : weight;

    /// <summary>Checks that <paramref name="adapterName"/> can name an adapter (an identifier, not <c>base_layer</c>).</summary>
    public static void ValidateAdapterName(string adapterName)
    {
        if (string.IsNullOrEmpty(adapterName) || !AdapterNameRegex().IsMatch(adapterName) || adapterName == "base_layer")
        {
            throw new ArgumentException($"'{adapterName}' cannot name an adapter: use letters, digits and '_', starting with a letter or '_', and not 'base_layer'", nameof(adapterName));
        }
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex AdapterNameRegex();
}
