using System.Text.Json;
using static TorchSharp.torch;

namespace PeftSharp.IO;

/// <summary>Writes safetensors files the way the reference Python writer lays them out.</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically. Tensors are ordered by
    /// dtype (larger elements first) then by name, the header is compact JSON with <c>__metadata__</c>
    /// first, padded with spaces so that the data starts 8-byte aligned.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
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
        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            stream.Write(header);
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
                    stream.Write(contiguous.bytes);
                }
                else
                {
                    contiguous.WriteBytesToStream(stream, 1 << 20);
                }
            }
        });
    }
}
