using static TorchSharp.torch;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// Padded micro-batches of examples of similar length (transformers' <c>group_by_length</c>): each
/// epoch shuffles the examples from (seed, epoch), sorts them by length within mega-batches of up to 50
/// batches, cuts the batches and shuffles their order, so little padding is wasted yet the data stays
/// shuffled. Without shuffling (evaluation) the whole set is sorted by length. Rows are padded on the
/// right with the pad id, masked by position in the attention mask and the labels (−100).
/// </summary>
public sealed class LengthGroupedBatcher : ICausalLmBatcher
{
    private readonly IReadOnlyList<CausalLmExample> _examples;
    private readonly int _batchSize;
    private readonly long _padTokenId;
    private readonly int _seed;
    private readonly bool _shuffle;
    private (int Epoch, int[][] Batches)? _cached;

    /// <summary>Creates the batcher over <paramref name="examples"/>: <paramref name="batchSize"/> examples a batch, padding with <paramref name="padTokenId"/>, shuffled per epoch from <paramref name="seed"/> unless <paramref name="shuffle"/> is false.</summary>
    /// <exception cref="ArgumentException">There are no examples.</exception>
    public LengthGroupedBatcher(IReadOnlyList<CausalLmExample> examples, int batchSize, long padTokenId, int seed, bool shuffle = true)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (examples.Count == 0)
        {
            throw new ArgumentException("there are no examples to batch", nameof(examples));
        }

        _examples = examples;
        _batchSize = batchSize;
        _padTokenId = padTokenId;
        _seed = seed;
        _shuffle = shuffle;
    }

    /// <inheritdoc />
    public int BatchesPerEpoch => (_examples.Count + _batchSize - 1) / _batchSize;

    /// <summary>The example indices of batch <paramref name="index"/> of <paramref name="epoch"/>.</summary>
    public IReadOnlyList<int> Indices(int epoch, int index) => Batches(epoch)[index % BatchesPerEpoch];

    /// <inheritdoc />
    public CausalLmBatch Batch(int epoch, int index) => Collate([.. Indices(epoch, index).Select(i => _examples[i])], _padTokenId);

    /// <summary>Right-pads <paramref name="examples"/> into one batch (ids padded with <paramref name="padTokenId"/>, labels with −100, mask 0).</summary>
    public static CausalLmBatch Collate(IReadOnlyList<CausalLmExample> examples, long padTokenId)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var width = examples.Max(e => e.Length);
        var ids = new long[examples.Count * width];
        var labels = new long[ids.Length];
        var mask = new long[ids.Length];
        Array.Fill(ids, padTokenId);
        Array.Fill(labels, CausalLmLoss.IgnoreIndex);
        for (var row = 0; row < examples.Count; row++)
        {
            var example = examples[row];
            example.InputIds.CopyTo(ids, row * width);
            example.Labels.CopyTo(labels, row * width);
            Array.Fill(mask, 1L, row * width, example.Length);
        }

        long[] shape = [examples.Count, width];
        var padded = examples.Any(e => e.Length < width);
        return new CausalLmBatch(tensor(ids, shape), tensor(labels, shape), padded ? tensor(mask, shape) : null);
    }

    /// <summary>
    /// The shuffling stream of <paramref name="epoch"/>: seeded from (seed, epoch) alone, so a resumed run
    /// (another process) shuffles as the uninterrupted one did (HashCode is randomised per process).
    /// </summary>
    internal static Random EpochRandom(int seed, int epoch) => new(unchecked((seed * 1_000_003) + epoch));

    private int[][] Batches(int epoch)
    {
        if (_cached is { } cached && cached.Epoch == epoch)
        {
            return cached.Batches;
        }

        var order = Enumerable.Range(0, _examples.Count).ToArray();
        int[][] batches;
        if (_shuffle)
        {
            var random = EpochRandom(_seed, epoch);
            random.Shuffle(order);
            var megaBatch = _batchSize * Math.Clamp(_examples.Count / (_batchSize * 4), 1, 50);
            batches = [.. order.Chunk(megaBatch).SelectMany(mega => mega.OrderByDescending(i => _examples[i].Length).Chunk(_batchSize))];
            random.Shuffle(batches);
        }
        else
        {
            batches = [.. order.OrderByDescending(i => _examples[i].Length).Chunk(_batchSize)];
        }

        _cached = (epoch, batches);
        return batches;
    }
}
