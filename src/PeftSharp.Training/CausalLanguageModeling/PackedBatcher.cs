namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// Micro-batches of packed rows (TRL's <c>packing=True</c>): the examples are packed once, in an order
/// shuffled from the seed, into rows of at most <c>maxLength</c> tokens (<see cref="CausalLmPacker"/>:
/// positions restart per example, so the decoder attends within each example only and the loss never
/// crosses a boundary); each epoch then shuffles the rows from (seed, epoch). The number of batches is
/// the same every epoch and a batch is a function of (seed, epoch, index) alone, as resumed runs need.
/// </summary>
public sealed class PackedBatcher : ICausalLmBatcher
{
    private readonly IReadOnlyList<PackedRow> _rows;
    private readonly int _rowsPerBatch;
    private readonly long _padTokenId;
    private readonly int _seed;
    private (int Epoch, int[] Order)? _cached;

    /// <summary>Packs <paramref name="examples"/> into rows of at most <paramref name="maxLength"/> tokens, <paramref name="rowsPerBatch"/> rows a batch.</summary>
    /// <exception cref="ArgumentException">There are no examples, or one is longer than <paramref name="maxLength"/>.</exception>
    public PackedBatcher(IReadOnlyList<CausalLmExample> examples, int maxLength, int rowsPerBatch, long padTokenId, int seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerBatch, 1);
        if (examples.Count == 0)
        {
            throw new ArgumentException("there are no examples to pack", nameof(examples));
        }

        var order = Enumerable.Range(0, examples.Count).ToArray();
        new Random(seed).Shuffle(order);
        _rows = CausalLmPacker.Pack([.. order.Select(i => examples[i])], maxLength);
        _rowsPerBatch = rowsPerBatch;
        _padTokenId = padTokenId;
        _seed = seed;
    }

    /// <summary>The packed rows (in packing order).</summary>
    public IReadOnlyList<PackedRow> Rows => _rows;

    /// <inheritdoc />
    public int BatchesPerEpoch => (_rows.Count + _rowsPerBatch - 1) / _rowsPerBatch;

    /// <inheritdoc />
    public CausalLmBatch Batch(int epoch, int index)
    {
        var order = Order(epoch);
        var start = index % BatchesPerEpoch * _rowsPerBatch;
        var rows = order.Skip(start).Take(_rowsPerBatch).Select(i => _rows[i]).ToList();
        var (ids, labels, positions) = CausalLmPacker.Collate(rows, _padTokenId);
        return new CausalLmBatch(ids, labels, AttentionMask: null, PositionIds: positions);
    }

    private int[] Order(int epoch)
    {
        if (_cached is { } cached && cached.Epoch == epoch)
        {
            return cached.Order;
        }

        var order = Enumerable.Range(0, _rows.Count).ToArray();
        LengthGroupedBatcher.EpochRandom(_seed, epoch).Shuffle(order);
        _cached = (epoch, order);
        return order;
    }
}
