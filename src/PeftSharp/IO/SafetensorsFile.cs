using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.IO;

/// <summary>Where one tensor lives in a safetensors file.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DType">Its dtype name as written in the header (for example <c>F32</c>).</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Begin">Start of its bytes, relative to the data buffer.</param>
/// <param name="End">End (exclusive) of its bytes, relative to the data buffer.</param>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>
/// A validated safetensors file. <see cref="Open(string)"/> reads and checks only the header; tensors are
/// read one at a time from disk by <see cref="Read"/>, so the file is never held twice in memory.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>The largest header the reader accepts (the reference implementation's bound).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private const int MaxRank = 64;
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly Dictionary<string, SafetensorsEntry> _entries;

    private SafetensorsFile(string path, Stream stream, bool leaveOpen, long dataStart, List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _stream = stream;
        _leaveOpen = leaveOpen;
        DataStart = dataStart;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    /// <summary>The file's path.</summary>
    public string FilePath { get; }

    /// <summary>File offset of the data buffer (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>The tensors in data order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor names in data order.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>True when the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="SafetensorsFormatException">The file breaks the format; the message says how.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafetensorsFile Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Open(stream, path, leaveOpen: false);
    }

    /// <summary>
    /// Validates the safetensors content of a seekable <paramref name="stream"/>; <paramref name="name"/>
    /// names it in errors. Unless <paramref name="leaveOpen"/>, the stream is disposed with the result
    /// (or at once when validation fails).
    /// </summary>
    /// <exception cref="SafetensorsFormatException">The content breaks the format.</exception>
    public static SafetensorsFile Open(Stream stream, string name, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek || !stream.CanRead)
        {
            throw new ArgumentException("the stream must be readable and seekable", nameof(stream));
        }

        try
        {
            stream.Position = 0;
            var (dataStart, entries, metadata) = ReadHeader(name, stream);
            return new SafetensorsFile(name, stream, leaveOpen, dataStart, entries, metadata);
        }
        catch
        {
            if (!leaveOpen)
            {
                stream.Dispose();
            }

            throw;
        }
    }

    /// <summary>Reads every tensor of <paramref name="path"/> into a dictionary (in data order).</summary>
    public static Dictionary<string, Tensor> ReadAll(string path)
    {
        using var file = Open(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in file.Entries)
            {
                result.Add(entry.Name, file.Read(entry.Name));
            }
        }
        catch
        {
            foreach (var tensor in result.Values)
            {
                tensor.Dispose();
            }

            throw;
        }

        return result;
    }

    /// <summary>
    /// Reads tensor <paramref name="name"/> into <paramref name="target"/>: straight into its storage
    /// when it is a contiguous CPU tensor of the stored dtype and shape (no temporary copy), otherwise
    /// through a temporary tensor converted by <c>copy_</c>.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public void ReadInto(string name, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!_entries.TryGetValue(name, out var entry))
        {
            throw new KeyNotFoundException($"{FilePath}: no tensor named '{name}'");
        }

        _ = SafetensorsDType.TryParse(entry.DType, out var type, out _);
        var length = entry.End - entry.Begin;
        if (target.dtype != type || target.device_type != DeviceType.CPU || !target.is_contiguous() || !entry.Shape.SequenceEqual(target.shape) || length != target.NumberOfElements * target.ElementSize)
        {
            using var tensor = Read(name);
            target.copy_(tensor);
            return;
        }

        try
        {
            if (length > 0)
            {
                _stream.Position = DataStart + entry.Begin;
                if (length <= int.MaxValue)
                {
                    _stream.ReadExactly(target.bytes);
                }
                else
                {
                    target.ReadBytesFromStream(_stream, 1 << 20);
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new SafetensorsFormatException(FilePath, $"tensor '{name}' is cut short by the end of the file", e);
        }
    }

    /// <summary>Reads one tensor (CPU, the file's dtype). The caller owns the result.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public Tensor Read(string name)
    {
        if (!_entries.TryGetValue(name, out var entry))
        {
            throw new KeyNotFoundException($"{FilePath}: no tensor named '{name}'");
        }

        _ = SafetensorsDType.TryParse(entry.DType, out var type, out _);
        var tensor = empty(entry.Shape, dtype: type, device: CPU);
        try
        {
            var length = entry.End - entry.Begin;
            if (length > 0)
            {
                _stream.Position = DataStart + entry.Begin;
                if (length <= int.MaxValue)
                {
                    _stream.ReadExactly(tensor.bytes);
                }
                else
                {
                    tensor.ReadBytesFromStream(_stream, 1 << 20);
                }
            }

            return tensor;
        }
        catch (EndOfStreamException e)
        {
            tensor.Dispose();
            throw new SafetensorsFormatException(FilePath, $"tensor '{name}' is cut short by the end of the file", e);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    private static (long DataStart, List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) ReadHeader(string path, Stream stream)
    {
        var fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw new SafetensorsFormatException(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = BitConverter.ToUInt64(lengthBytes);
        if (!BitConverter.IsLittleEndian)
        {
            headerLength = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(headerLength);
        }

        if (headerLength > MaxHeaderLength)
        {
            throw new SafetensorsFormatException(path, $"header length {headerLength} exceeds the limit of {MaxHeaderLength} bytes");
        }

        if ((long)headerLength > fileLength - 8)
        {
            throw new SafetensorsFormatException(path, $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");
        }

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataStart = 8 + (long)headerLength;
        var bufferLength = fileLength - dataStart;

        JsonDocument document;
        try
        {
            var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
            strict.GetCharCount(header);
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException or ArgumentException)
        {
            throw new SafetensorsFormatException(path, $"the header is not valid UTF-8 JSON ({(e is JsonException json ? JsonErrorText.Describe(json, singleLine: Array.IndexOf(header, (byte)'\n') < 0) : e.Message)})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsFormatException(path, $"the header is a JSON {root.ValueKind}, expected an object");
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<SafetensorsEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw new SafetensorsFormatException(path, $"the header names '{property.Name}' twice");
                }

                if (property.Name == "__metadata__")
                {
                    ReadMetadata(path, property.Value, metadata);
                    continue;
                }

                entries.Add(ReadEntry(path, property.Name, property.Value, bufferLength));
            }

            entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long expected = 0;
            foreach (var entry in entries)
            {
                if (entry.Begin != expected)
                {
                    var what = entry.Begin < expected ? "overlaps the previous tensor" : "leaves a hole before it";
                    throw new SafetensorsFormatException(path, $"tensor '{entry.Name}' starts at {entry.Begin}, expected {expected}: it {what}");
                }

                expected = entry.End;
            }

            if (expected != bufferLength)
            {
                throw new SafetensorsFormatException(path, $"the tensors cover {expected} bytes but the data buffer has {bufferLength}");
            }

            return (dataStart, entries, metadata);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException(path, $"__metadata__ is a JSON {value.ValueKind}, expected an object of strings");
        }

        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new SafetensorsFormatException(path, $"__metadata__ value '{item.Name}' is a JSON {item.Value.ValueKind}, expected a string");
            }

            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw new SafetensorsFormatException(path, $"__metadata__ names '{item.Name}' twice");
            }
        }
    }

    private static SafetensorsEntry ReadEntry(string path, string name, JsonElement value, long bufferLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}' is a JSON {value.ValueKind}, expected an object");
        }

        string? dtype = null;
        long[]? shape = null;
        long[]? offsets = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype":
                    dtype = field.Value.ValueKind == JsonValueKind.String
                        ? field.Value.GetString()
                        : throw new SafetensorsFormatException(path, $"tensor '{name}': dtype is a JSON {field.Value.ValueKind}, expected a string");
                    break;
                case "shape":
                    shape = ReadIntegers(path, name, "shape", field.Value, MaxRank);
                    break;
                case "data_offsets":
                    offsets = ReadIntegers(path, name, "data_offsets", field.Value, 2);
                    break;
                default:
                    throw new SafetensorsFormatException(path, $"tensor '{name}' has an unknown field '{field.Name}'");
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            var missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new SafetensorsFormatException(path, $"tensor '{name}' has no {missing}");
        }

        if (!SafetensorsDType.TryParse(dtype, out _, out var elementSize))
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}' has dtype '{dtype}', which PeftSharp does not support (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
        }

        if (offsets.Length != 2)
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}': data_offsets has {offsets.Length} numbers, expected 2");
        }

        var (begin, end) = (offsets[0], offsets[1]);
        if (begin > end || end > bufferLength)
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}': data_offsets [{begin}, {end}] lie outside the {bufferLength}-byte data buffer");
        }

        // The element count of the non-zero dimensions must fit in 64 bits even when another
        // dimension is 0 (libtorch multiplies them all when it sizes storage). Saturate instead of
        // overflowing: a saturated size can never match the offsets.
        long extent = elementSize;
        foreach (var dim in shape.Where(d => d != 0))
        {
            extent = extent > long.MaxValue / dim ? long.MaxValue : extent * dim;
        }

        if (extent == long.MaxValue && shape.Any(d => d == 0))
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}': shape [{string.Join(", ", shape)}] is too large to describe, even though it is empty");
        }

        var bytes = shape.Any(d => d == 0) ? 0 : extent;

        if (bytes != end - begin)
        {
            var size = bytes == long.MaxValue ? "more than the file holds" : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new SafetensorsFormatException(path, $"tensor '{name}': shape [{string.Join(", ", shape)}] × {dtype} needs {size} bytes but data_offsets span {end - begin}");
        }

        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long[] ReadIntegers(string path, string name, string field, JsonElement value, int maxCount)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}': {field} is a JSON {value.ValueKind}, expected an array of integers");
        }

        var count = value.GetArrayLength();
        if (count > maxCount)
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}': {field} has {count} entries, at most {maxCount} allowed");
        }

        var result = new long[count];
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var number) || number < 0)
            {
                throw new SafetensorsFormatException(path, $"tensor '{name}': {field}[{i}] is {item.GetRawText()}, expected a non-negative integer");
            }

            result[i++] = number;
        }

        return result;
    }
}
