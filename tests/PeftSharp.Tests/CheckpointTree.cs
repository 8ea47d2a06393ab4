using PeftSharp.Layers;
using PeftSharp.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>
/// Builds a module tree whose names mirror a checkpoint's keys: nested Sequentials with a Linear
/// (or Conv1D) wherever the checkpoint has a 2-D <c>X.weight</c>. Enough to load real PEFT adapters
/// onto the right module names without the full architectures.
/// </summary>
internal static class CheckpointTree
{
    public static Sequential Build(string checkpointPath, bool conv1d = false)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(checkpointPath);
        var leaves = new Dictionary<string, (long[] Shape, bool Bias)>(StringComparer.Ordinal);
        foreach (var name in checkpoint.Names.Where(n => n.EndsWith(".weight", StringComparison.Ordinal)))
        {
            var shape = checkpoint.Entry(name).Shape;
            if (shape.Length == 2)
            {
                var module = name[..^".weight".Length];
                leaves[module] = (shape, checkpoint.Contains(module + ".bias"));
            }
        }

        return Node(string.Empty, leaves, conv1d);
    }

    private static Sequential Node(string prefix, Dictionary<string, (long[] Shape, bool Bias)> leaves, bool conv1d)
    {
        var children = leaves.Keys
            .Where(k => prefix.Length == 0 || k.StartsWith(prefix + ".", StringComparison.Ordinal))
            .Select(k => (prefix.Length == 0 ? k : k[(prefix.Length + 1)..]).Split('.')[0])
            .Distinct()
            .Select(child =>
            {
                var full = prefix.Length == 0 ? child : $"{prefix}.{child}";
                nn.Module<Tensor, Tensor> module = leaves.TryGetValue(full, out var leaf)
                    ? conv1d
                        ? new Conv1D((int)leaf.Shape[0], (int)leaf.Shape[1], leaf.Bias)
                        : nn.Linear(leaf.Shape[1], leaf.Shape[0], leaf.Bias)
                    : Node(full, leaves, conv1d);
                return (child, module);
            })
            .ToArray();
        return nn.Sequential(children);
    }
}
