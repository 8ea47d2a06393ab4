using static TorchSharp.torch;

namespace PeftSharp.Methods.AdaLora;

/// <summary>Which factor of an AdaLoRA triplet a parameter is.</summary>
internal enum AdaLoraRole
{
    /// <summary>Right singular vectors <c>(r, in)</c>.</summary>
    A,

    /// <summary>Singular values <c>(r, 1)</c>.</summary>
    E,

    /// <summary>Left singular vectors <c>(out, r)</c>.</summary>
    B,
}

/// <summary>
/// Where each A, E and B of the allocator's paths lives in its flat importance buffers: parameters of
/// one role and shape are contiguous (a group), so a group's scores are one batched view
/// <c>(count, rows, columns)</c> and a row or column mean over all of them is one kernel.
/// </summary>
internal sealed class AdaLoraImportanceLayout
{
    private readonly Dictionary<AdaLoraRole, Tensor> _pathOrder = [];

    /// <summary>Builds the layout of <paramref name="paths"/>' A, E and B.</summary>
    public AdaLoraImportanceLayout(IReadOnlyList<AdaLoraPath> paths)
    {
        var members = new List<(AdaLoraRole Role, long Rows, long Columns, List<(int Path, Tensor Parameter)> Items)>();
        for (var i = 0; i < paths.Count; i++)
        {
            foreach (var (role, parameter) in new (AdaLoraRole, Tensor)[] { (AdaLoraRole.A, paths[i].A), (AdaLoraRole.E, paths[i].E), (AdaLoraRole.B, paths[i].B) })
            {
                var (rows, columns) = (parameter.shape[0], parameter.shape[1]);
                var index = members.FindIndex(m => m.Role == role && m.Rows == rows && m.Columns == columns);
                if (index < 0)
                {
                    members.Add((role, rows, columns, []));
                    index = members.Count - 1;
                }

                members[index].Items.Add((i, parameter));
            }
        }

        var offset = 0L;
        var groups = new List<AdaLoraImportanceGroup>();
        var parameters = new List<Tensor>();
        var offsets = new Dictionary<Tensor, long>(ReferenceEqualityComparer.Instance);
        foreach (var (role, rows, columns, items) in members)
        {
            groups.Add(new AdaLoraImportanceGroup(role, [rows, columns], items.Count, offset, [.. items.Select(item => item.Path)]));
            foreach (var (_, parameter) in items)
            {
                parameters.Add(parameter);
                offsets[parameter] = offset;
                offset += rows * columns;
            }
        }

        Groups = groups;
        Parameters = parameters;
        Offsets = offsets;
        Total = offset;
        Ranks = [.. paths.Select(p => p.Rank)];
    }

    /// <summary>The groups in buffer order.</summary>
    public IReadOnlyList<AdaLoraImportanceGroup> Groups { get; }

    /// <summary>Every A, E and B in buffer order.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>Each parameter's first element in the buffers.</summary>
    public IReadOnlyDictionary<Tensor, long> Offsets { get; }

    /// <summary>Elements in a buffer.</summary>
    public long Total { get; }

    /// <summary>Each path's rank, in path order.</summary>
    private int[] Ranks { get; }

    /// <summary>
    /// The index that reorders the concatenated per-group triplet scores of <paramref name="role"/>
    /// (group after group, each <c>count × r</c>) into path order (path after path, <c>r</c> each).
    /// </summary>
    public Tensor PathOrder(AdaLoraRole role)
    {
        if (_pathOrder.TryGetValue(role, out var cached))
        {
            return cached;
        }

        var start = new long[Ranks.Length];
        var position = 0L;
        foreach (var group in Groups.Where(g => g.Role == role))
        {
            var rank = role == AdaLoraRole.B ? group.Shape[1] : group.Shape[0];
            foreach (var path in group.Paths)
            {
                start[path] = position;
                position += rank;
            }
        }

        var order = Enumerable.Range(0, Ranks.Length).SelectMany(path => Enumerable.Range(0, Ranks[path]).Select(t => start[path] + t)).ToArray();
        var index = tensor(order).DetachFromDisposeScope();
        _pathOrder[role] = index;
        return index;
    }
}

/// <summary>Parameters of one role and shape, contiguous in the importance buffers.</summary>
/// <param name="Role">A, E or B.</param>
/// <param name="Shape">Their shape <c>(rows, columns)</c>.</param>
/// <param name="Count">How many.</param>
/// <param name="Offset">The first element of the first one.</param>
/// <param name="Paths">Each one's path index, in buffer order.</param>
internal sealed record AdaLoraImportanceGroup(AdaLoraRole Role, long[] Shape, int Count, long Offset, int[] Paths);
