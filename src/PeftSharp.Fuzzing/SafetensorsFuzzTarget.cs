using static TorchSharp.torch;

namespace PeftSharp.Fuzzing;

/// <summary>
/// <see cref="SafetensorsFile"/> over in-memory files. Structural mutations: random header bytes,
/// header length values, and JSON-header edits (dtypes, shapes, offsets, missing/extra fields,
/// non-string metadata, duplicate names). A case is accepted when every tensor reads; the header
/// plus the tensors' bytes must not exceed the input.
/// </summary>
public sealed class SafetensorsFuzzTarget : FuzzTarget
{
    private static readonly bool[] MaskValues = [true, false];
    private static readonly int[] IntValues = [4, 5];


    private static readonly string[] DTypes = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "C64", "U64", "X", "", "f32"];
    private static readonly byte[] JsonCharacters = Encoding.ASCII.GetBytes("{}[]\":,0123456789-eE.\\ ");

    /// <inheritdoc />
    public override string Name => "safetensors";

    /// <inheritdoc />
    public override string Description => "Feed the safetensors reader mutated valid files and random bytes.";

    /// <inheritdoc />
    public override bool IsTyped(Exception exception) => exception is SafetensorsFormatException;

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed)
    {
        var generator = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        var sets = new List<Dictionary<string, Tensor>>
        {
            new() { ["w"] = randn(3, 4, generator: generator) },
            new()
            {
                ["a.weight"] = randn(2, 3, generator: generator),
                ["a.bias"] = randn(3, generator: generator).to(ScalarType.Float16),
                ["ids"] = tensor(new long[] { 1, 2, 3 }),
                ["mask"] = tensor(MaskValues),
                ["scalar"] = tensor(1.5),
                ["empty"] = zeros(0, 2),
            },
            new()
            {
                ["x"] = randn(5, generator: generator).to(ScalarType.BFloat16),
                ["y"] = tensor(new sbyte[] { 1, -1 }),
                ["z"] = tensor(new short[] { 7 }),
                ["u"] = tensor(new byte[] { 9, 8, 7 }),
                ["i"] = tensor(IntValues),
            },
        };
        var seeds = new List<byte[]>();
        foreach (var set in sets)
        {
            using var stream = new MemoryStream();
            SafetensorsWriter.WriteTo(stream, set, set.Count > 1 ? new Dictionary<string, string> { ["format"] = "pt" } : null);
            seeds.Add(stream.ToArray());
        }

        return seeds;
    }

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        long tensorBytes = 0;
        using var file = SafetensorsFile.Open(new MemoryStream(input, writable: false), "fuzz.safetensors");
        using var scope = NewDisposeScope();
        foreach (var entry in file.Entries)
        {
            var tensor = file.Read(entry.Name);
            tensorBytes += tensor.numel() * tensor.ElementSize;
        }

        return file.DataStart - 8 + tensorBytes;
    }

    /// <inheritdoc />
    public override byte[] RandomInput(Random random)
    {
        var bytes = FuzzMutators.RandomBytes(random);
        if (bytes.Length >= 8 && random.Next(2) == 0)
        {
            // A plausible header length so the JSON parser sees the random bytes.
            BitConverter.GetBytes((ulong)random.Next(0, bytes.Length - 7)).CopyTo(bytes, 0);
        }

        return bytes;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds) => random.Next(7) switch
    {
        0 => FlipHeaderBytes(seed, random),
        1 => ChangeHeaderLength(seed, random),
        _ => MutateHeaderJson(seed, random),
    };

    private static byte[] FlipHeaderBytes(byte[] seed, Random random)
    {
        var bytes = (byte[])seed.Clone();
        var headerEnd = 8 + (int)BitConverter.ToUInt64(bytes, 0);
        var flips = random.Next(1, 9);
        for (var i = 0; i < flips; i++)
        {
            var at = random.Next(0, Math.Min(headerEnd, bytes.Length));
            bytes[at] = random.Next(3) switch
            {
                0 => (byte)random.Next(256),
                1 => JsonCharacters[random.Next(JsonCharacters.Length)],
                _ => (byte)(bytes[at] ^ (1 << random.Next(8))),
            };
        }

        return bytes;
    }

    private static byte[] ChangeHeaderLength(byte[] seed, Random random)
    {
        var bytes = (byte[])seed.Clone();
        var length = BitConverter.ToUInt64(bytes, 0);
        ulong value = random.Next(6) switch
        {
            0 => 0,
            1 => ulong.MaxValue - (ulong)random.Next(16),
            2 => (ulong)bytes.Length,
            3 => (ulong)(SafetensorsFile.MaxHeaderLength + random.Next(1, 1000)),
            4 => length + (ulong)random.Next(1, 64),
            _ => length - (ulong)Math.Min((long)length, random.Next(1, 64)),
        };
        BitConverter.GetBytes(value).CopyTo(bytes, 0);
        return bytes;
    }

    private static byte[] MutateHeaderJson(byte[] seed, Random random)
    {
        var headerLength = (int)BitConverter.ToUInt64(seed, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(seed, 8, headerLength))!.AsObject();
        var names = header.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
        var data = seed[(8 + headerLength)..];
        var mutations = random.Next(1, 4);
        for (var m = 0; m < mutations && names.Count > 0; m++)
        {
            var name = names[random.Next(names.Count)];
            if (header[name] is not JsonObject entry)
            {
                continue;
            }

            switch (random.Next(9))
            {
                case 0:
                    entry["dtype"] = DTypes[random.Next(DTypes.Length)];
                    break;
                case 1:
                    entry["shape"] = RandomShape(random);
                    break;
                case 2:
                    entry["data_offsets"] = new JsonArray(RandomOffset(data.Length, random), RandomOffset(data.Length, random));
                    break;
                case 3:
                    var slot = random.Next(2);
                    if (entry["data_offsets"] is JsonArray { Count: 2 } offsets && offsets[slot] is JsonValue value && value.TryGetValue<long>(out var offset))
                    {
                        offsets[slot] = offset + random.Next(-9, 10);
                    }

                    break;
                case 4:
                    entry.Remove(random.Next(3) switch { 0 => "dtype", 1 => "shape", _ => "data_offsets" });
                    break;
                case 5:
                    entry["extra"] = 1;
                    break;
                case 6:
                    header["__metadata__"] = random.Next(2) == 0 ? new JsonObject { ["k"] = 3 } : new JsonArray(1, 2);
                    break;
                case 7:
                    entry["shape"] = new JsonArray(random.Next(2) == 0 ? "2" : -1.5);
                    break;
                default:
                    header[name] = random.Next(2) == 0 ? JsonValue.Create(7) : new JsonArray();
                    break;
            }
        }

        var text = header.ToJsonString();
        if (random.Next(8) == 0 && names.Count > 0)
        {
            // A duplicate key, which JsonNode cannot express.
            var name = names[0];
            text = text[..^1] + $",\"{name}\":{header[name]?.ToJsonString() ?? "null"}}}";
        }

        var json = Encoding.UTF8.GetBytes(text);
        var result = new byte[8 + json.Length + data.Length];
        BitConverter.GetBytes((ulong)json.Length).CopyTo(result, 0);
        json.CopyTo(result, 8);
        data.CopyTo(result, 8 + json.Length);
        return result;
    }

    private static JsonArray RandomShape(Random random)
    {
        var shape = new JsonArray();
        var rank = random.Next(0, 5);
        for (var i = 0; i < rank; i++)
        {
            shape.Add(random.Next(6) switch
            {
                0 => 0L,
                1 => long.MaxValue,
                2 => 1L << random.Next(20, 62),
                3 => -random.Next(1, 5),
                _ => (long)random.Next(1, 9),
            });
        }

        return shape;
    }

    private static long RandomOffset(int dataLength, Random random) => random.Next(4) switch
    {
        0 => random.Next(0, dataLength + 1),
        1 => long.MaxValue - random.Next(8),
        2 => -random.Next(1, 9),
        _ => dataLength + random.Next(0, 9),
    };
}
