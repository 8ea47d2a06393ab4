using static TorchSharp.torch;

namespace PeftSharp.IO;

/// <summary>What <see cref="ModelWeights.Load"/> did.</summary>
/// <param name="Loaded">Model parameter/buffer names that received a tensor.</param>
/// <param name="Missing">Model names the checkpoint did not provide.</param>
/// <param name="Unexpected">Checkpoint names that matched nothing in the model (after mapping).</param>
public sealed record WeightsLoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected);

/// <summary>Weights that do not fit the model, listed by name.</summary>
public sealed class WeightsLoadException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public WeightsLoadException(string message) : base(message)
    {
    }
}

/// <summary>Loads Hugging Face checkpoints (<c>model.safetensors</c>, sharded or not) into TorchSharp modules by name.</summary>
public static class ModelWeights
{
    /// <summary>
    /// Copies every tensor of the checkpoint at <paramref name="path"/> (a directory, an index or a
    /// safetensors file) into the parameter or buffer of <paramref name="model"/> with the same name,
    /// converting dtype. Shape mismatches are always errors.
    /// </summary>
    /// <param name="model">The module to fill.</param>
    /// <param name="path">Checkpoint directory or file.</param>
    /// <param name="mapName">Maps a checkpoint name to a model name, or to null to skip it (a hook for models whose names differ).</param>
    /// <param name="strict">When true, missing and unexpected names are errors (first 10 listed, with a count).</param>
    /// <param name="allowMissing">Model names that may stay unloaded even in strict mode (for example a tied output head).</param>
    /// <exception cref="WeightsLoadException">The checkpoint does not fit the model.</exception>
    public static WeightsLoadReport Load(nn.Module model, string path, Func<string, string?>? mapName = null, bool strict = true, Func<string, bool>? allowMissing = null)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        var state = model.state_dict();
        var plan = new List<(string FileName, Tensor Target)>();
        var unexpected = new List<string>();
        var mismatched = new List<string>();
        var loaded = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fileName in checkpoint.Names)
        {
            var modelName = mapName is null ? fileName : mapName(fileName);
            if (modelName is null)
            {
                continue;
            }

            if (!state.TryGetValue(modelName, out var target))
            {
                unexpected.Add(fileName);
                continue;
            }

            var entry = checkpoint.Entry(fileName);
            if (!entry.Shape.SequenceEqual(target.shape))
            {
                mismatched.Add($"{fileName}: checkpoint [{string.Join(", ", entry.Shape)}] vs model {modelName} [{string.Join(", ", target.shape)}]");
                continue;
            }

            plan.Add((fileName, target));
            loaded.Add(modelName);
        }

        var missing = state.Keys.Where(k => !loaded.Contains(k) && !(allowMissing?.Invoke(k) ?? false)).ToList();
        if (mismatched.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            throw new WeightsLoadException($"{checkpoint.Path}: the checkpoint does not fit {model.GetType().Name}: " + string.Join("; ", new[]
            {
                List("shape mismatch(es)", mismatched), List("missing", missing), List("unexpected", unexpected),
            }.Where(s => s.Length > 0)));
        }

        using (no_grad())
        {
            foreach (var (fileName, target) in plan)
            {
                // Straight into the parameter when the dtypes match; one temporary tensor otherwise.
                checkpoint.ReadInto(fileName, target);
            }
        }

        return new WeightsLoadReport(loaded.ToList(), missing, unexpected);
    }

    private static string List(string what, IReadOnlyList<string> names) =>
        names.Count == 0 ? string.Empty : $"{names.Count} {what}: {string.Join(", ", names.Take(10))}{(names.Count > 10 ? $", … ({names.Count - 10} more)" : string.Empty)}";
}
