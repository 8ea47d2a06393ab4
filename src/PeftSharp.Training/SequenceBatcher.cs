namespace PeftSharp.Training;

/// <summary>
/// Draws batches of packed sequences for pretraining: one pass over the sequences in an order
/// reshuffled (from the seed) each time the previous pass is used up, batch after batch.
/// </summary>
internal sealed class SequenceBatcher
{
    private readonly IReadOnlyList<long[]> _sequences;
    private readonly Random _random;
    private readonly int[] _order;
    private int _cursor;

    /// <summary>Creates the batcher over <paramref name="sequences"/>, shuffled from <paramref name="seed"/>.</summary>
    /// <exception cref="ArgumentException">There are no sequences.</exception>
    public SequenceBatcher(IReadOnlyList<long[]> sequences, int seed)
    {
        if (sequences.Count == 0)
        {
            throw new ArgumentException("no sequences to train on (the corpus is shorter than one sequence)", nameof(sequences));
        }

        _sequences = sequences;
        _random = new Random(seed);
        _order = Enumerable.Range(0, sequences.Count).ToArray();
        _cursor = _order.Length;
    }

    /// <summary>How many sequences there are.</summary>
    public int Count => _sequences.Count;

    /// <summary>The next <paramref name="batchSize"/> sequences, concatenated row after row.</summary>
    public long[] Next(int batchSize)
    {
        var rows = new long[batchSize][];
        for (var b = 0; b < batchSize; b++)
        {
            if (_cursor == _order.Length)
            {
                _random.Shuffle(_order);
                _cursor = 0;
            }

            rows[b] = _sequences[_order[_cursor++]];
        }

        return [.. rows.SelectMany(r => r)];
    }
}
