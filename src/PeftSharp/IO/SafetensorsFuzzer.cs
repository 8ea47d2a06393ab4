using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace PeftSharp.IO;

/// <summary>Totals of a fuzz run.</summary>
/// <param name="Cases">Cases run.</param>
/// <param name="Rejected">Cases rejected with <see cref="SafetensorsFormatException"/>.</param>
/// <param name="Accepted">Cases that parsed and whose tensors were all read.</param>
/// <param name="UntypedExceptions">Cases that threw anything else (a bug).</param>
/// <param name="Hangs">Cases that exceeded the per-case time bound (a bug).</param>
/// <param name="OverAllocations">Cases whose allocations exceeded the input's size (a bug).</param>
/// <param name="FirstProblem">Description of the first bug found, or null.</param>
public sealed record FuzzReport(long Cases, long Rejected, long Accepted, long UntypedExceptions, long Hangs, long OverAllocations, string? FirstProblem)
{
    /// <summary>True when no case revealed a bug.</summary>
    public bool Clean => UntypedExceptions == 0 && Hangs == 0 && OverAllocations == 0;

    /// <summary><c>N cases, K rejected with typed errors, 0 untyped exceptions, 0 hangs</c></summary>
    public string Summary => $"{Cases} cases, {Rejected} rejected with typed errors, {UntypedExceptions} untyped exceptions, {Hangs} hangs";
}

/// <summary>
/// Feeds <see cref="SafetensorsFile"/> mutated valid files (header bytes, header length, offsets,
/// dtypes, shapes, names, metadata, truncation, appended bytes) and random bytes, all in memory,
/// and counts how each case ends. A case must either be rejected with
/// <see cref="SafetensorsFormatException"/> or parse with every tensor readable; it must finish
/// within the time bound and allocate no more than its input's size for header and tensor data.
/// </summary>
public sealed class SafetensorsFuzzer
{
    private static readonly string[] DTypes = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "C64", "U64", "X", "", "f32"];
    private static readonly byte[] JsonCharacters = Encoding.ASCII.GetBytes("{}[]\":,0123456789-eE.\\ ");
    private readonly Random _random;
    private readonly List<byte[]> _seeds;

    /// <summary>Creates a fuzzer whose cases are a deterministic function of <paramref name="seed"/>.</summary>
    public SafetensorsFuzzer(int seed)
    {
        _random = new Random(seed);
        _seeds = BuildSeeds(seed);
    }

    /// <summary>Runs <paramref name="cases"/> cases; each must finish within <paramref name="caseTimeLimit"/>.</summary>
    public FuzzReport Run(long cases, TimeSpan caseTimeLimit, Action<long>? progress = null)
    {
        long done = 0, rejected = 0, accepted = 0, untyped = 0, over = 0;
        string? first = null;
        long caseStarted = Stopwatch.GetTimestamp();
        var finished = false;
        var worker = new Thread(() =>
        {
            for (long i = 0; i < cases; i++)
            {
                var input = NextCase();
                Volatile.Write(ref caseStarted, Stopwatch.GetTimestamp());
                switch (RunCase(input, i, out var problem))
                {
                    case Outcome.Rejected:
                        rejected++;
                        break;
                    case Outcome.Accepted:
                        accepted++;
                        break;
                    case Outcome.Untyped:
                        untyped++;
                        first ??= problem;
                        break;
                    case Outcome.OverAllocation:
                        over++;
                        first ??= problem;
                        break;
                }

                Volatile.Write(ref done, i + 1);
                if (progress is not null && (i + 1) % 10_000 == 0)
                {
                    progress(i + 1);
                }
            }

            Volatile.Write(ref finished, true);
        })
        { IsBackground = true, Name = "safetensors-fuzz" };
        worker.Start();

        while (!worker.Join(50))
        {
            var elapsed = Stopwatch.GetElapsedTime(Volatile.Read(ref caseStarted));
            if (!Volatile.Read(ref finished) && elapsed > caseTimeLimit)
            {
                var at = Volatile.Read(ref done);
                return new FuzzReport(at + 1, rejected, accepted, untyped, 1, over, first ?? $"case {at} ran longer than {caseTimeLimit.TotalMilliseconds} ms");
            }
        }

        return new FuzzReport(done, rejected, accepted, untyped, 0, over, first);
    }

    private enum Outcome
    {
        Rejected,
        Accepted,
        Untyped,
        OverAllocation,
    }

    private static Outcome RunCase(byte[] input, long index, out string? problem)
    {
        problem = null;
        long tensorBytes = 0;
        try
        {
            using var file = SafetensorsFile.Open(new MemoryStream(input, writable: false), $"case {index}");
            using var scope = NewDisposeScope();
            foreach (var entry in file.Entries)
            {
                var tensor = file.Read(entry.Name);
                tensorBytes += tensor.numel() * tensor.ElementSize;
            }

            var headerBytes = file.DataStart - 8;
            if (headerBytes + tensorBytes > input.Length)
            {
                problem = $"case {index}: header {headerBytes} + tensors {tensorBytes} bytes exceed the {input.Length}-byte input";
                return Outcome.OverAllocation;
            }

            return Outcome.Accepted;
        }
        catch (SafetensorsFormatException)
        {
            return Outcome.Rejected;
        }
        catch (Exception e)
        {
            problem = $"case {index}: {e.GetType().Name}: {e.Message}";
            return Outcome.Untyped;
        }
    }

    private byte[] NextCase()
    {
        var seed = _seeds[_random.Next(_seeds.Count)];
        return _random.Next(10) switch
        {
            0 => RandomBytes(),
            1 => FlipHeaderBytes(seed),
            2 => ChangeHeaderLength(seed),
            3 => Truncate(seed),
            4 => Append(seed),
            _ => MutateHeaderJson(seed),
        };
    }

    private byte[] RandomBytes()
    {
        var bytes = new byte[_random.Next(0, 512)];
        _random.NextBytes(bytes);
        if (bytes.Length >= 8 && _random.Next(2) == 0)
        {
            // A plausible header length so the JSON parser sees the random bytes.
            BitConverter.GetBytes((ulong)_random.Next(0, bytes.Length - 7)).CopyTo(bytes, 0);
        }

        return bytes;
    }

    private byte[] FlipHeaderBytes(byte[] seed)
    {
        var bytes = (byte[])seed.Clone();
        var headerEnd = 8 + (int)BitConverter.ToUInt64(bytes, 0);
        var flips = _random.Next(1, 9);
        for (var i = 0; i < flips; i++)
        {
            var at = _random.Next(0, Math.Min(headerEnd, bytes.Length));
            bytes[at] = _random.Next(3) switch
            {
                0 => (byte)_random.Next(256),
                1 => JsonCharacters[_random.Next(JsonCharacters.Length)],
                _ => (byte)(bytes[at] ^ (1 << _random.Next(8))),
            };
        }

        return bytes;
    }

    private byte[] ChangeHeaderLength(byte[] seed)
    {
        var bytes = (byte[])seed.Clone();
        var length = BitConverter.ToUInt64(bytes, 0);
        ulong value = _random.Next(6) switch
        {
            0 => 0,
            1 => ulong.MaxValue - (ulong)_random.Next(16),
            2 => (ulong)bytes.Length,
            3 => (ulong)(SafetensorsFile.MaxHeaderLength + _random.Next(1, 1000)),
            4 => length + (ulong)_random.Next(1, 64),
            _ => length - (ulong)Math.Min((long)length, _random.Next(1, 64)),
        };
        BitConverter.GetBytes(value).CopyTo(bytes, 0);
        return bytes;
    }

    private byte[] Truncate(byte[] seed) => seed[.._random.Next(0, seed.Length)];

    private byte[] Append(byte[] seed)
    {
        var extra = new byte[_random.Next(1, 64)];
        _random.NextBytes(extra);
        return [.. seed, .. extra];
    }

    private byte[] MutateHeaderJson(byte[] seed)
    {
        var headerLength = (int)BitConverter.ToUInt64(seed, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(seed, 8, headerLength))!.AsObject();
        var names = header.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
        var data = seed[(8 + headerLength)..];
        var mutations = _random.Next(1, 4);
        for (var m = 0; m < mutations && names.Count > 0; m++)
        {
            var name = names[_random.Next(names.Count)];
            if (header[name] is not JsonObject entry)
            {
                continue;
            }

            switch (_random.Next(9))
            {
                case 0:
                    entry["dtype"] = DTypes[_random.Next(DTypes.Length)];
                    break;
                case 1:
                    entry["shape"] = RandomShape();
                    break;
                case 2:
                    entry["data_offsets"] = new JsonArray(RandomOffset(data.Length), RandomOffset(data.Length));
                    break;
                case 3:
                    var slot = _random.Next(2);
                    if (entry["data_offsets"] is JsonArray { Count: 2 } offsets && offsets[slot] is JsonValue value && value.TryGetValue<long>(out var offset))
                    {
                        offsets[slot] = offset + _random.Next(-9, 10);
                    }

                    break;
                case 4:
                    entry.Remove(_random.Next(3) switch { 0 => "dtype", 1 => "shape", _ => "data_offsets" });
                    break;
                case 5:
                    entry["extra"] = 1;
                    break;
                case 6:
                    header["__metadata__"] = _random.Next(2) == 0 ? new JsonObject { ["k"] = 3 } : new JsonArray(1, 2);
                    break;
                case 7:
                    entry["shape"] = new JsonArray(_random.Next(2) == 0 ? "2" : -1.5);
                    break;
                default:
                    header[name] = _random.Next(2) == 0 ? JsonValue.Create(7) : new JsonArray();
                    break;
            }
        }

        var text = header.ToJsonString();
        if (_random.Next(8) == 0 && names.Count > 0)
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

    private JsonArray RandomShape()
    {
        var shape = new JsonArray();
        var rank = _random.Next(0, 5);
        for (var i = 0; i < rank; i++)
        {
            shape.Add(_random.Next(6) switch
            {
                0 => 0L,
                1 => long.MaxValue,
                2 => 1L << _random.Next(20, 62),
                3 => -_random.Next(1, 5),
                _ => (long)_random.Next(1, 9),
            });
        }

        return shape;
    }

    private long RandomOffset(int dataLength) => _random.Next(4) switch
    {
        0 => _random.Next(0, dataLength + 1),
        1 => long.MaxValue - _random.Next(8),
        2 => -_random.Next(1, 9),
        _ => dataLength + _random.Next(0, 9),
    };

    private static List<byte[]> BuildSeeds(int seed)
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
                ["mask"] = tensor(new[] { true, false }),
                ["scalar"] = tensor(1.5),
                ["empty"] = zeros(0, 2),
            },
            new()
            {
                ["x"] = randn(5, generator: generator).to(ScalarType.BFloat16),
                ["y"] = tensor(new sbyte[] { 1, -1 }),
                ["z"] = tensor(new short[] { 7 }),
                ["u"] = tensor(new byte[] { 9, 8, 7 }),
                ["i"] = tensor(new[] { 4, 5 }),
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
}
