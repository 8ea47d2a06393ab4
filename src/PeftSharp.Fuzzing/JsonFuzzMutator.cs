namespace PeftSharp.Fuzzing;

/// <summary>
/// Structural mutations of a JSON document: a value somewhere in the tree replaced by a value of
/// another kind or an edge value, a field removed, an unknown or well-known field added, a key
/// duplicated. Targets pass the field names and values that matter to their format.
/// </summary>
public sealed class JsonFuzzMutator
{
    private static readonly string[] EdgeStrings =
    [
        "", " ", "x", "(", "[a-", "a|b", ".*", "(a+)+$", "\\", "\u0000", "\uFFFD", "é", "all-linear", "query", "value", "none", "true", "1", "-1", "1e9", "NaN",
    ];

    private readonly IReadOnlyList<string> _fieldNames;
    private readonly IReadOnlyList<JsonNode?> _values;

    /// <summary>Creates the mutator with the format's field names and interesting values (both may be empty).</summary>
    public JsonFuzzMutator(IReadOnlyList<string> fieldNames, IReadOnlyList<JsonNode?> values)
    {
        ArgumentNullException.ThrowIfNull(fieldNames);
        ArgumentNullException.ThrowIfNull(values);
        _fieldNames = fieldNames;
        _values = values;
    }

    /// <summary>One to three structural mutations of the JSON in <paramref name="seed"/> (a generic mutation when it is not JSON).</summary>
    public byte[] Mutate(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        ArgumentNullException.ThrowIfNull(random);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(seed);
        }
        catch (JsonException)
        {
            return FuzzMutators.Mutate(seed, random, seeds);
        }

        if (root is null)
        {
            return FuzzMutators.Mutate(seed, random, seeds);
        }

        var count = random.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            root = root is null ? RandomValue(random) : MutateTree(root, random);
        }

        var text = root?.ToJsonString() ?? "null";
        if (random.Next(10) == 0 && root is JsonObject { Count: > 0 } obj)
        {
            // A duplicate key, which JsonNode cannot express.
            var (key, value) = obj.ElementAt(random.Next(obj.Count));
            text = text[..^1] + $",{JsonSerializer.Serialize(key)}:{RandomValue(random)?.ToJsonString() ?? value?.ToJsonString() ?? "null"}}}";
        }

        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>A random JSON value: an interesting value of the format, an edge value or a random kind.</summary>
    public JsonNode? RandomValue(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (_values.Count > 0 && random.Next(3) == 0)
        {
            return _values[random.Next(_values.Count)]?.DeepClone();
        }

        return random.Next(14) switch
        {
            0 => null,
            1 => random.Next(2) == 0,
            2 => random.Next(-3, 20),
            3 => new[] { int.MaxValue, int.MinValue, 0, -1 }[random.Next(4)],
            4 => new[] { long.MaxValue, long.MinValue, 1L << 40 }[random.Next(3)],
            5 => new[] { 0.5, -0.5, 1e308, -1e308, 1e-300, 2.5 }[random.Next(6)],
            6 => EdgeStrings[random.Next(EdgeStrings.Length)],
            7 => new string((char)('a' + random.Next(26)), random.Next(2) == 0 ? 300 : 20_000),
            8 => new JsonArray(),
            9 => new JsonArray(RandomValue(random), RandomValue(random)),
            10 => new JsonObject(),
            11 => new JsonObject { [EdgeStrings[random.Next(EdgeStrings.Length)]] = RandomValue(random) },
            12 => new JsonArray(EdgeStrings[random.Next(EdgeStrings.Length)]),
            _ => _fieldNames.Count > 0 ? _fieldNames[random.Next(_fieldNames.Count)] : "x",
        };
    }

    /// <summary>Mutates <paramref name="node"/>: objects and arrays in place (and returned), scalars replaced by the returned value.</summary>
    private JsonNode? MutateTree(JsonNode node, Random random)
    {
        switch (node)
        {
            case JsonObject obj when obj.Count > 0 && random.Next(3) != 0:
            {
                var key = obj.ElementAt(random.Next(obj.Count)).Key;
                var child = obj[key];
                switch (random.Next(6))
                {
                    case 0:
                        obj.Remove(key);
                        break;
                    case 1 when child is JsonObject or JsonArray:
                        MutateTree(child, random);
                        break;
                    case 2:
                        obj[_fieldNames.Count > 0 && random.Next(2) == 0 ? _fieldNames[random.Next(_fieldNames.Count)] : "unknown_" + random.Next(100)] = RandomValue(random);
                        break;
                    case 3 when child is not null:
                        var renamed = child.DeepClone();
                        obj.Remove(key);
                        obj[EdgeStrings[random.Next(EdgeStrings.Length)] + key] = renamed;
                        break;
                    default:
                        obj[key] = RandomValue(random);
                        break;
                }

                return obj;
            }

            case JsonObject obj:
                obj[_fieldNames.Count > 0 ? _fieldNames[random.Next(_fieldNames.Count)] : "x"] = RandomValue(random);
                return obj;
            case JsonArray array when array.Count > 0 && random.Next(4) != 0:
            {
                var at = random.Next(array.Count);
                switch (random.Next(4))
                {
                    case 0:
                        array.RemoveAt(at);
                        break;
                    case 1 when array[at] is JsonObject or JsonArray:
                        MutateTree(array[at]!, random);
                        break;
                    case 2:
                        array.Add(array[at]?.DeepClone());
                        break;
                    default:
                        array[at] = RandomValue(random);
                        break;
                }

                return array;
            }

            case JsonArray array:
                array.Add(RandomValue(random));
                return array;
            default:
                return RandomValue(random);
        }
    }
}
