using static TorchSharp.torch;

namespace PeftSharp.IO;

/// <summary>Writes safetensors files the way the reference Python writer lays them out.</summary>
public static class SafetensorsWriter
{
    private static readonly JsonSerializerOptions IndexJsonOptions = new() { WriteIndented = true };

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically. Tensors are ordered by
    /// dtype (larger elements first) then by name, the header is compact JSON with <c>__metadata__</c>
    /// first, padded with spaces so that the data starts 8-byte aligned.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.ToList();
        AtomicFile.Write(path, stream => WriteTo(stream, items, metadata));
    }

    /// <summary>Writes the safetensors bytes of <paramref name="tensors"/> to <paramref name="output"/> (see <see cref="Save"/>).</summary>
    public static void WriteTo(Stream output, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors
            .Select(kv => (kv.Key, Tensor: kv.Value, DType: SafetensorsDType.NameOf(kv.Value.dtype)))
            .OrderBy(t => SafetensorsDType.WriteOrder(t.DType))
            .ThenBy(t => t.Key, StringComparer.Ordinal)
            .ToList();
        var duplicate = items.GroupBy(i => i.Key).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"tensor name '{duplicate.Key}' appears twice", nameof(tensors));
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is not null)
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var item in items)
            {
                var length = item.Tensor.numel() * item.Tensor.ElementSize;
                json.WriteStartObject(item.Key);
                json.WriteString("dtype", item.DType);
                json.WriteStartArray("shape");
                foreach (var dim in item.Tensor.shape)
                {
                    json.WriteNumberValue(dim);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += length;
            }

            json.WriteEndObject();
        }

        while (buffer.Length % 8 != 0)
        {
            buffer.WriteByte((byte)' ');
        }

        var header = buffer.ToArray();
        output.Write(BitConverter.GetBytes((ulong)header.Length));
        output.Write(header);
        foreach (var item in items)
        {
            using var scope = NewDisposeScope();
            var contiguous = item.Tensor.detach().cpu().contiguous();
            if (contiguous.numel() == 0)
            {
                continue;
            }

            if (contiguous.numel() * contiguous.ElementSize <= int.MaxValue)
            {
                output.Write(contiguous.bytes);
            }
            else
            {
                contiguous.WriteBytesToStream(output, 1 << 20);
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> as a sharded checkpoint in <paramref name="directory"/>:
    /// shards <c>model-0000i-of-0000n.safetensors</c> of at most <paramref name="maxShardBytes"/>
    /// (a larger tensor gets a shard of its own) and <c>model.safetensors.index.json</c>, written last.
    /// </summary>
    /// <returns>The index file's path.</returns>
    public static string SaveSharded(string directory, IEnumerable<KeyValuePair<string, Tensor>> tensors, long maxShardBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long current = 0, total = 0;
        foreach (var item in tensors)
        {
            var size = item.Value.numel() * item.Value.ElementSize;
            if (current > 0 && current + size > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }

            shards[^1].Add(item);
            current += size;
            total += size;
        }

        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < shards.Count; i++)
        {
            var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Save(Path.Combine(directory, name), shards[i], new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var item in shards[i])
            {
                weightMap[item.Key] = name;
            }
        }

        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, long> { ["total_size"] = total },
            ["weight_map"] = weightMap,
        };
        var indexPath = Path.Combine(directory, SafetensorsCheckpoint.IndexFileName);
        AtomicFile.WriteAllText(indexPath, JsonSerializer.Serialize(index, IndexJsonOptions));
        return indexPath;
    }
}
