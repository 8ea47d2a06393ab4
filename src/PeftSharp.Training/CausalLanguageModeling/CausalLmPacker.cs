using static TorchSharp.torch;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// Packs short causal-LM examples into rows of at most a given number of tokens, the way transformers'
/// <c>DataCollatorWithFlattening</c> lays them out: the examples are concatenated, position ids restart
/// at 0 for each one (the decoder then attends only within an example: a block-diagonal causal mask),
/// and the first label of each example is <see cref="CausalLmLoss.IgnoreIndex"/>, so the shifted loss
/// never predicts an example's first token from the end of the previous one. The packed loss therefore
/// equals the loss of the same examples padded into a batch.
/// </summary>
public static class CausalLmPacker
{
    /// <summary>
    /// Places each example, in order, into the first row with room for it (first-fit; deterministic,
    /// and rows keep their examples in input order).
    /// </summary>
    /// <param name="examples">The examples; each must be non-empty and at most <paramref name="maxLength"/> tokens.</param>
    /// <param name="maxLength">Tokens per row.</param>
    /// <exception cref="ArgumentException">An example is empty, longer than a row, or its labels do not match its ids.</exception>
    public static IReadOnlyList<PackedRow> Pack(IReadOnlyList<CausalLmExample> examples, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        var rows = new List<List<int>>();
        var free = new FirstFitTree(examples.Count);
        for (var i = 0; i < examples.Count; i++)
        {
            var example = examples[i] ?? throw new ArgumentException($"example {i} is null", nameof(examples));
            if (example.Length == 0 || example.Length > maxLength || example.Labels.Length != example.Length)
            {
                throw new ArgumentException(
                    $"example {i} cannot be packed into rows of {maxLength} tokens: it has {example.Length} ids and {example.Labels.Length} labels (need 1…{maxLength}, one label per id)",
                    nameof(examples));
            }

            var row = free.FindFirst(example.Length);
            if (row < 0)
            {
                row = rows.Count;
                rows.Add([]);
                free.Set(row, maxLength);
            }

            rows[row].Add(i);
            free.Set(row, free.Get(row) - example.Length);
        }

        return rows.Select(members => Build(examples, members)).ToList();
    }

    /// <summary>
    /// The batch tensors of <paramref name="rows"/> <c>(rows, longest)</c>: shorter rows are padded at the end
    /// with <paramref name="padTokenId"/>, unsupervised labels, and positions restarting at 0 (the padding
    /// is a segment of its own, so no attention mask is needed).
    /// </summary>
    public static (Tensor InputIds, Tensor Labels, Tensor PositionIds) Collate(IReadOnlyList<PackedRow> rows, long padTokenId)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            throw new ArgumentException("no rows to collate", nameof(rows));
        }

        var width = rows.Max(row => row.Length);
        var ids = new long[rows.Count * width];
        var labels = new long[rows.Count * width];
        var positions = new long[rows.Count * width];
        for (var r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            var offset = r * width;
            row.InputIds.CopyTo(ids, offset);
            row.Labels.CopyTo(labels, offset);
            row.PositionIds.CopyTo(positions, offset);
            for (var t = row.Length; t < width; t++)
            {
                ids[offset + t] = padTokenId;
                labels[offset + t] = CausalLmLoss.IgnoreIndex;
                positions[offset + t] = t - row.Length;
            }
        }

        long[] shape = [rows.Count, width];
        return (tensor(ids, shape), tensor(labels, shape), tensor(positions, shape));
    }

    private static PackedRow Build(IReadOnlyList<CausalLmExample> examples, List<int> members)
    {
        var length = members.Sum(i => examples[i].Length);
        var ids = new long[length];
        var labels = new long[length];
        var positions = new long[length];
        var at = 0;
        foreach (var index in members)
        {
            var example = examples[index];
            example.InputIds.CopyTo(ids, at);
            example.Labels.CopyTo(labels, at);
            labels[at] = CausalLmLoss.IgnoreIndex;
            for (var t = 0; t < example.Length; t++)
            {
                positions[at + t] = t;
            }

            at += example.Length;
        }

        return new PackedRow(ids, labels, positions, members);
    }

    /// <summary>A max-tree over the rows' free space: the first row with at least n free tokens in O(log rows).</summary>
    private sealed class FirstFitTree
    {
        private readonly int[] _max;
        private readonly int _size;

        public FirstFitTree(int capacity)
        {
            _size = 1;
            while (_size < Math.Max(capacity, 1))
            {
                _size *= 2;
            }

            _max = new int[2 * _size];
        }

        public int Get(int row) => _max[_size + row];

        public void Set(int row, int free)
        {
            var node = _size + row;
            _max[node] = free;
            for (node /= 2; node >= 1; node /= 2)
            {
                _max[node] = Math.Max(_max[2 * node], _max[(2 * node) + 1]);
            }
        }

        /// <summary>The lowest row with at least <paramref name="needed"/> free tokens, or −1.</summary>
        public int FindFirst(int needed)
        {
            if (_max[1] < needed)
            {
                return -1;
            }

            var node = 1;
            while (node < _size)
            {
                node = _max[2 * node] >= needed ? 2 * node : (2 * node) + 1;
            }

            return node - _size;
        }
    }
}

/// <summary>One packed row: the concatenated examples with their labels and restarting positions.</summary>
/// <param name="InputIds">Token ids of the examples, one after another.</param>
/// <param name="Labels">Their labels, the first of each example set to −100.</param>
/// <param name="PositionIds">Positions, restarting at 0 at each example.</param>
/// <param name="Examples">Indices of the packed examples in the input list, in row order.</param>
public sealed record PackedRow(long[] InputIds, long[] Labels, long[] PositionIds, IReadOnlyList<int> Examples)
{
    /// <summary>Tokens in the row.</summary>
    public int Length => InputIds.Length;
}
