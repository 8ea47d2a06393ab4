using System.Collections;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Per-layer sliding windows when <c>layer_types</c> is absent: full attention (null) in the first
/// layers, the window from <c>firstSliding</c> on. Computed per index, so a config claiming billions
/// of layers costs nothing until a model is built.
/// </summary>
internal sealed class LayerWindows : IReadOnlyList<int?>
{
    private readonly int _firstSliding;
    private readonly int? _window;

    /// <summary>Creates the list of <paramref name="count"/> layers.</summary>
    public LayerWindows(int count, int firstSliding, int? window)
    {
        Count = count;
        _firstSliding = firstSliding;
        _window = window;
    }

    /// <inheritdoc />
    public int Count { get; }

    /// <inheritdoc />
    public int? this[int index] => (uint)index < (uint)Count
        ? (index >= _firstSliding ? _window : null)
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <inheritdoc />
    public IEnumerator<int?> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
