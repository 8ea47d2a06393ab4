namespace PeftSharp.Fuzzing;

/// <summary>
/// Format-blind mutations of an input: byte flips, JSON punctuation, truncation, appended bytes,
/// splices of two seeds, duplicated or dropped lines, invalid UTF-8, huge numbers, deep nesting,
/// repeated chunks and random bytes.
/// </summary>
public static class FuzzMutators
{
    private static readonly byte[] Punctuation = Encoding.ASCII.GetBytes("{}[]\":,\\\n\r\t '#=-+.eE0");

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xC3], [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFE, 0xFF], [0xEF, 0xBB, 0xBF],
    ];

    private static readonly string[] HugeNumbers =
    [
        "1e999999", "-1e999999", "9223372036854775808", "-9223372036854775809", "18446744073709551616", "2147483648", "-2147483649",
        "1" + new string('0', 400), "0." + new string('0', 400) + "1", "NaN", "Infinity", "-0", "1e-400", "4294967296", "1.5", "-1",
    ];

    /// <summary>One to three generic mutations of <paramref name="seed"/>; <paramref name="seeds"/> supplies splice partners.</summary>
    public static byte[] Mutate(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        ArgumentNullException.ThrowIfNull(seed);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(seeds);
        var bytes = seed;
        var count = random.Next(4) == 0 ? random.Next(2, 4) : 1;
        for (var i = 0; i < count; i++)
        {
            bytes = MutateOnce(bytes, random, seeds);
        }

        return bytes;
    }

    /// <summary>Up to 511 random bytes.</summary>
    public static byte[] RandomBytes(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var bytes = new byte[random.Next(0, 512)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] MutateOnce(byte[] bytes, Random random, IReadOnlyList<byte[]> seeds) => random.Next(13) switch
    {
        0 => FlipBytes(bytes, random),
        1 => Insert(bytes, random, [Punctuation[random.Next(Punctuation.Length)]]),
        2 => bytes[..random.Next(0, bytes.Length + 1)],
        3 => Append(bytes, random),
        4 => Splice(bytes, seeds[random.Next(seeds.Count)], random),
        5 => DuplicateLine(bytes, random),
        6 => DeleteRange(bytes, random),
        7 => Insert(bytes, random, InvalidUtf8[random.Next(InvalidUtf8.Length)]),
        8 => HugeNumber(bytes, random),
        9 => DeepNesting(bytes, random),
        10 => RepeatChunk(bytes, random),
        11 => DropLine(bytes, random),
        _ => Insert(bytes, random, [Punctuation[random.Next(Punctuation.Length)], Punctuation[random.Next(Punctuation.Length)]]),
    };

    private static byte[] FlipBytes(byte[] seed, Random random)
    {
        if (seed.Length == 0)
        {
            return [(byte)random.Next(256)];
        }

        var bytes = (byte[])seed.Clone();
        var flips = random.Next(1, 9);
        for (var i = 0; i < flips; i++)
        {
            var at = random.Next(bytes.Length);
            bytes[at] = random.Next(3) switch
            {
                0 => (byte)random.Next(256),
                1 => Punctuation[random.Next(Punctuation.Length)],
                _ => (byte)(bytes[at] ^ (1 << random.Next(8))),
            };
        }

        return bytes;
    }

    private static byte[] Insert(byte[] bytes, Random random, ReadOnlySpan<byte> piece)
    {
        var at = random.Next(0, bytes.Length + 1);
        return [.. bytes.AsSpan(0, at), .. piece, .. bytes.AsSpan(at)];
    }

    private static byte[] Append(byte[] bytes, Random random)
    {
        var extra = new byte[random.Next(1, 64)];
        random.NextBytes(extra);
        return [.. bytes, .. extra];
    }

    private static byte[] Splice(byte[] first, byte[] second, Random random)
    {
        var head = random.Next(0, first.Length + 1);
        var tail = random.Next(0, second.Length + 1);
        return [.. first.AsSpan(0, head), .. second.AsSpan(tail)];
    }

    private static byte[] DeleteRange(byte[] bytes, Random random)
    {
        if (bytes.Length == 0)
        {
            return bytes;
        }

        var start = random.Next(bytes.Length);
        var length = random.Next(1, Math.Min(64, bytes.Length - start) + 1);
        return [.. bytes.AsSpan(0, start), .. bytes.AsSpan(start + length)];
    }

    private static byte[] RepeatChunk(byte[] bytes, Random random)
    {
        if (bytes.Length == 0)
        {
            return bytes;
        }

        var start = random.Next(bytes.Length);
        var chunk = bytes.AsSpan(start, random.Next(1, Math.Min(32, bytes.Length - start) + 1));
        var times = random.Next(2) == 0 ? random.Next(2, 10) : random.Next(100, 2000);
        var result = new List<byte>(bytes.Length + chunk.Length * times);
        result.AddRange(bytes.AsSpan(0, start));
        for (var i = 0; i < times; i++)
        {
            result.AddRange(chunk);
        }

        result.AddRange(bytes.AsSpan(start));
        return [.. result];
    }

    private static List<(int Start, int Length)> Lines(byte[] bytes)
    {
        var lines = new List<(int, int)>();
        var start = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == (byte)'\n')
            {
                lines.Add((start, i + 1 - start));
                start = i + 1;
            }
        }

        if (start < bytes.Length)
        {
            lines.Add((start, bytes.Length - start));
        }

        return lines;
    }

    private static byte[] DuplicateLine(byte[] bytes, Random random)
    {
        var lines = Lines(bytes);
        if (lines.Count == 0)
        {
            return bytes;
        }

        var (start, length) = lines[random.Next(lines.Count)];
        var at = lines[random.Next(lines.Count)].Start;
        var line = bytes.AsSpan(start, length).ToArray();
        if (line[^1] != (byte)'\n')
        {
            line = [.. line, (byte)'\n'];
        }

        return [.. bytes.AsSpan(0, at), .. line, .. bytes.AsSpan(at)];
    }

    private static byte[] DropLine(byte[] bytes, Random random)
    {
        var lines = Lines(bytes);
        if (lines.Count == 0)
        {
            return bytes;
        }

        var (start, length) = lines[random.Next(lines.Count)];
        return [.. bytes.AsSpan(0, start), .. bytes.AsSpan(start + length)];
    }

    private static byte[] HugeNumber(byte[] bytes, Random random)
    {
        var number = Encoding.ASCII.GetBytes(HugeNumbers[random.Next(HugeNumbers.Length)]);
        var digits = new List<int>();
        for (var i = 0; i < bytes.Length; i++)
        {
            if (char.IsAsciiDigit((char)bytes[i]) && (i == 0 || !char.IsAsciiDigit((char)bytes[i - 1])))
            {
                digits.Add(i);
            }
        }

        if (digits.Count == 0)
        {
            return Insert(bytes, random, number);
        }

        var start = digits[random.Next(digits.Count)];
        var end = start;
        while (end < bytes.Length && (char.IsAsciiDigit((char)bytes[end]) || bytes[end] is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'-' or (byte)'+'))
        {
            end++;
        }

        return [.. bytes.AsSpan(0, start), .. number, .. bytes.AsSpan(end)];
    }

    private static byte[] DeepNesting(byte[] bytes, Random random)
    {
        var depth = random.Next(3) == 0 ? 10_000 : random.Next(2, 200);
        var unit = random.Next(3) switch
        {
            0 => "["u8.ToArray(),
            1 => "{\"a\":"u8.ToArray(),
            _ => "[{\"a\":"u8.ToArray(),
        };
        var nesting = new byte[unit.Length * depth];
        for (var i = 0; i < depth; i++)
        {
            unit.CopyTo(nesting, i * unit.Length);
        }

        return Insert(bytes, random, nesting);
    }
}
