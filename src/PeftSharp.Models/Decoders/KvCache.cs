using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Keys and values of every layer for a batch, preallocated to <see cref="Capacity"/> positions
/// (<c>(batch, kv_heads, capacity, head_dim)</c> per layer) so decoding appends without copying.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    /// <summary>Allocates the cache.</summary>
    public KvCache(int layers, long batch, int kvHeads, int headDim, int capacity, ScalarType dtype, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        Batch = batch;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        for (var i = 0; i < layers; i++)
        {
            _keys[i] = zeros([batch, kvHeads, capacity, headDim], dtype: dtype, device: device).DetachFromDisposeScope();
            _values[i] = zeros([batch, kvHeads, capacity, headDim], dtype: dtype, device: device).DetachFromDisposeScope();
        }
    }

    /// <summary>Positions filled so far.</summary>
    public int Length { get; private set; }

    /// <summary>Positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Batch size.</summary>
    public long Batch { get; }

    /// <summary>Writes <paramref name="keys"/>/<paramref name="values"/> <c>(batch, kv_heads, T, head_dim)</c> of layer <paramref name="layer"/> after the filled positions and returns views of everything up to them.</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        var length = keys.shape[2];
        if (Length + length > Capacity)
        {
            throw new InvalidOperationException($"the KV cache holds {Capacity} positions; {Length} are filled and {length} more were given");
        }

        _keys[layer].narrow(2, Length, length).copy_(keys);
        _values[layer].narrow(2, Length, length).copy_(values);
        return (_keys[layer].narrow(2, 0, Length + length), _values[layer].narrow(2, 0, Length + length));
    }

    /// <summary>Marks <paramref name="count"/> more positions as filled (after every layer appended them).</summary>
    internal void Advance(int count) => Length += count;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in _keys.Concat(_values))
        {
            tensor.Dispose();
        }
    }
}
