namespace PeftSharp.Models.Chat;

/// <summary>
/// Python's semantics for the values a template handles: <c>None</c> (null), <see cref="bool"/>,
/// <see cref="long"/>, <see cref="double"/>, <see cref="string"/>, lists (<see cref="List{T}"/>),
/// tuples (arrays), dicts (<see cref="OrderedDictionary{TKey, TValue}"/> with string keys), and
/// Jinja's undefined, namespaces, loops and callables: truthiness, <c>str()</c>, <c>repr()</c>,
/// equality, ordering and <c>json.dumps</c>.
/// </summary>
internal static class TemplateValues
{
    /// <summary>The deepest nesting of lists and dicts printed, compared or serialized.</summary>
    public const int MaxNesting = 64;

    /// <summary>Converts a host value (JSON nodes, strings, numbers, dictionaries, sequences) to a template value.</summary>
    public static object? FromHost(object? value, int depth = 0)
    {
        if (depth > MaxNesting)
        {
            throw new ArgumentException($"a value nests deeper than {MaxNesting} levels");
        }

        switch (value)
        {
            case null or string or bool or long or double:
                return value;
            case int or short or byte or sbyte or uint or ushort:
                return Convert.ToInt64(value, CultureInfo.InvariantCulture);
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case JsonNode node:
                return FromJson(node, depth);
            case JsonElement element:
                return FromJson(JsonSerializer.SerializeToNode(element), depth);
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, item) in pairs)
                {
                    dict[key] = FromHost(item, depth + 1);
                }

                return dict;
            case IEnumerable<KeyValuePair<string, string>> strings:
                return FromHost(strings.Select(p => KeyValuePair.Create(p.Key, (object?)p.Value)), depth);
            case System.Collections.IEnumerable sequence:
                var list = new List<object?>();
                foreach (var item in sequence)
                {
                    list.Add(FromHost(item, depth + 1));
                }

                return list;
            default:
                throw new ArgumentException($"a value of type {value.GetType().Name} cannot be passed to a chat template");
        }
    }

    /// <summary>Converts a JSON node to a template value (objects keep their key order).</summary>
    public static object? FromJson(JsonNode? node, int depth = 0)
    {
        if (depth > MaxNesting)
        {
            throw new ArgumentException($"a JSON value nests deeper than {MaxNesting} levels");
        }

        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, item) in obj)
                {
                    dict[key] = FromJson(item, depth + 1);
                }

                return dict;
            case JsonArray array:
                var list = new List<object?>(array.Count);
                foreach (var item in array)
                {
                    list.Add(FromJson(item, depth + 1));
                }

                return list;
            default:
                var value = node.AsValue();
                return value.GetValueKind() switch
                {
                    JsonValueKind.String => value.GetValue<string>(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Number when value.TryGetValue<long>(out var integer) => integer,
                    JsonValueKind.Number when value.TryGetValue<double>(out var real) => real,
                    JsonValueKind.Number => double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture),
                    _ => null,
                };
        }
    }

    /// <summary>Python's name of the type of <paramref name="value"/>.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        OrderedDictionary<string, object?> => "dict",
        TemplateUndefined => "Undefined",
        TemplateNamespace => "Namespace",
        TemplateLoop => "LoopContext",
        TemplateCallable => "function",
        _ => value.GetType().Name,
    };

    /// <summary>Python truthiness (undefined is false).</summary>
    public static bool IsTrue(object? value) => value switch
    {
        null or TemplateUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        IReadOnlyList<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>True for int, float and bool (Python's <c>numbers.Number</c>).</summary>
    public static bool IsNumber(object? value) => value is long or double or bool;

    /// <summary>Fails with Jinja's message when <paramref name="value"/> is undefined.</summary>
    public static void ThrowIfUndefined(object? value)
    {
        if (value is TemplateUndefined undefined)
        {
            throw new TemplateRuntimeException(undefined.Description);
        }
    }

    /// <summary>Python's <c>str()</c> (undefined: the empty string).</summary>
    public static string Str(object? value, TemplateBudget budget) => value switch
    {
        string s => s,
        TemplateUndefined => string.Empty,
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        _ => Repr(value, budget),
    };

    /// <summary>Python's <c>repr()</c>.</summary>
    public static string Repr(object? value, TemplateBudget budget)
    {
        var builder = new StringBuilder();
        WriteRepr(builder, value, budget, 0);
        return builder.ToString();
    }

    private static void Grow(StringBuilder builder, TemplateBudget budget)
    {
        if (builder.Length > budget.Options.MaxOutputLength)
        {
            throw new TemplateRuntimeException($"a value of more than {budget.Options.MaxOutputLength} characters exceeds the sandbox's limit");
        }

        budget.Charge(1);
    }

    private static void WriteRepr(StringBuilder builder, object? value, TemplateBudget budget, int depth)
    {
        if (depth > MaxNesting)
        {
            throw new TemplateRuntimeException($"a value nests deeper than {MaxNesting} levels");
        }

        Grow(builder, budget);
        switch (value)
        {
            case string s:
                WriteStringRepr(builder, s);
                break;
            case IReadOnlyList<object?> list:
                var tuple = value is object?[];
                builder.Append(tuple ? '(' : '[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(", ");
                    }

                    WriteRepr(builder, list[i], budget, depth + 1);
                }

                builder.Append(tuple ? (list.Count == 1 ? ",)" : ")") : "]");
                break;
            case OrderedDictionary<string, object?> dict:
                WriteDictRepr(builder, dict, budget, depth);
                break;
            case TemplateNamespace ns:
                builder.Append("<Namespace ");
                WriteDictRepr(builder, new OrderedDictionary<string, object?>(ns.Attributes), budget, depth);
                builder.Append('>');
                break;
            case TemplateCallable callable:
                builder.Append("<function ").Append(callable.Name).Append('>');
                break;
            case TemplateLoop:
                builder.Append("<LoopContext>");
                break;
            default:
                builder.Append(Str(value, budget));
                break;
        }
    }

    private static void WriteDictRepr(StringBuilder builder, OrderedDictionary<string, object?> dict, TemplateBudget budget, int depth)
    {
        builder.Append('{');
        var first = true;
        foreach (var (key, item) in dict)
        {
            if (!first)
            {
                builder.Append(", ");
            }

            first = false;
            WriteStringRepr(builder, key);
            builder.Append(": ");
            WriteRepr(builder, item, budget, depth + 1);
        }

        builder.Append('}');
    }

    private static void WriteStringRepr(StringBuilder builder, string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        builder.Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case var q when q == quote: builder.Append('\\').Append(q); break;
                case < ' ' or '\x7f': builder.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)); break;
                default: builder.Append(c); break;
            }
        }

        builder.Append(quote);
    }

    /// <summary>Python's <c>repr(float)</c>: the shortest round-trip digits, fixed from 1e-4 to 1e16, else with an exponent.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }

        var text = d.ToString("R", CultureInfo.InvariantCulture);
        var negative = text[0] == '-';
        if (negative)
        {
            text = text[1..];
        }

        var exponent = 0;
        var e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }

        var dot = text.IndexOf('.');
        var digits = dot >= 0 ? text[..dot] + text[(dot + 1)..] : text;
        var point = dot >= 0 ? dot : text.Length;
        var lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
        }

        digits = digits[lead..].TrimEnd('0');
        point -= lead;
        if (digits.Length == 0)
        {
            digits = "0";
        }

        var scientific = point + exponent - 1;
        string result;
        if (scientific is >= -4 and < 16)
        {
            if (scientific >= 0)
            {
                var whole = digits.Length > scientific + 1 ? digits[..(scientific + 1)] : digits.PadRight(scientific + 1, '0');
                var fraction = digits.Length > scientific + 1 ? digits[(scientific + 1)..] : "0";
                result = whole + "." + fraction;
            }
            else
            {
                result = "0." + new string('0', -scientific - 1) + digits;
            }
        }
        else
        {
            var mantissa = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            result = mantissa + "e" + (scientific < 0 ? "-" : "+") + Math.Abs(scientific).ToString("00", CultureInfo.InvariantCulture);
        }

        return negative ? "-" + result : result;
    }

    /// <summary>Python's <c>==</c> (1 == 1.0 == True; lists and tuples never equal; undefined equals only undefined).</summary>
    public static bool AreEqual(object? a, object? b, TemplateBudget budget, int depth = 0)
    {
        if (depth > MaxNesting)
        {
            throw new TemplateRuntimeException($"a value nests deeper than {MaxNesting} levels");
        }

        budget.Charge(1);
        switch (a)
        {
            case null:
                return b is null;
            case TemplateUndefined:
                return b is TemplateUndefined;
            case string s:
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case bool or long or double when IsNumber(b):
                return (a is double || b is double) ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
            case IReadOnlyList<object?> x when b is IReadOnlyList<object?> y && (a is object?[]) == (b is object?[]):
                if (x.Count != y.Count)
                {
                    return false;
                }

                for (var i = 0; i < x.Count; i++)
                {
                    if (!AreEqual(x[i], y[i], budget, depth + 1))
                    {
                        return false;
                    }
                }

                return true;
            case OrderedDictionary<string, object?> x when b is OrderedDictionary<string, object?> y:
                if (x.Count != y.Count)
                {
                    return false;
                }

                foreach (var (key, item) in x)
                {
                    if (!y.TryGetValue(key, out var other) || !AreEqual(item, other, budget, depth + 1))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    /// <summary>Python's ordering of numbers, strings, lists and tuples; other pairs are a TypeError.</summary>
    public static int CompareOrder(object? a, object? b, string op, TemplateBudget budget, int depth = 0)
    {
        if (depth > MaxNesting)
        {
            throw new TemplateRuntimeException($"a value nests deeper than {MaxNesting} levels");
        }

        budget.Charge(1);
        ThrowIfUndefined(a);
        ThrowIfUndefined(b);
        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        }

        if (a is string s && b is string t)
        {
            return CompareCodePoints(s, t);
        }

        if (a is IReadOnlyList<object?> x && b is IReadOnlyList<object?> y && (a is object?[]) == (b is object?[]))
        {
            for (var i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                if (!AreEqual(x[i], y[i], budget, depth + 1))
                {
                    return CompareOrder(x[i], y[i], op, budget, depth + 1);
                }
            }

            return x.Count.CompareTo(y.Count);
        }

        throw new TemplateRuntimeException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>Orders strings by code point, as Python does.</summary>
    public static int CompareCodePoints(string s, string t)
    {
        var i = 0;
        var j = 0;
        while (i < s.Length && j < t.Length)
        {
            var a = char.IsSurrogatePair(s, i) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];
            var b = char.IsSurrogatePair(t, j) ? char.ConvertToUtf32(t[j], t[j + 1]) : t[j];
            if (a != b)
            {
                return a.CompareTo(b);
            }

            i += a > 0xFFFF ? 2 : 1;
            j += b > 0xFFFF ? 2 : 1;
        }

        return (s.Length - i).CompareTo(t.Length - j);
    }

    /// <summary>An int or bool as a long.</summary>
    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateRuntimeException($"expected an integer, got {TypeName(value)}"),
    };

    /// <summary>A number as a double.</summary>
    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateRuntimeException($"expected a number, got {TypeName(value)}"),
    };

    /// <summary>
    /// transformers' <c>tojson</c>: <c>json.dumps(value, ensure_ascii=False, indent=indent)</c>, with
    /// Python's separators (<c>", "</c> and <c>": "</c>; <c>","</c> at line ends when indented).
    /// </summary>
    public static string ToJson(object? value, TemplateBudget budget, string? indent, bool ensureAscii = false, string itemSeparator = ", ", string keySeparator = ": ", bool sortKeys = false)
    {
        var builder = new StringBuilder();
        if (indent is not null && itemSeparator == ", ")
        {
            itemSeparator = ",";
        }

        WriteJson(builder, value, budget, indent, ensureAscii, itemSeparator, keySeparator, sortKeys, 0);
        return builder.ToString();
    }

    private static void WriteJson(StringBuilder builder, object? value, TemplateBudget budget, string? indent, bool ensureAscii, string itemSeparator, string keySeparator, bool sortKeys, int depth)
    {
        if (depth > MaxNesting)
        {
            throw new TemplateRuntimeException($"a value nests deeper than {MaxNesting} levels");
        }

        Grow(builder, budget);
        switch (value)
        {
            case null:
                builder.Append("null");
                break;
            case bool b:
                builder.Append(b ? "true" : "false");
                break;
            case long l:
                builder.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                builder.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : FormatFloat(d));
                break;
            case string s:
                WriteJsonString(builder, s, ensureAscii);
                break;
            case IReadOnlyList<object?> list:
                if (list.Count == 0)
                {
                    builder.Append("[]");
                    break;
                }

                builder.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(itemSeparator);
                    }

                    NewLine(builder, indent, depth + 1);
                    WriteJson(builder, list[i], budget, indent, ensureAscii, itemSeparator, keySeparator, sortKeys, depth + 1);
                }

                NewLine(builder, indent, depth);
                builder.Append(']');
                break;
            case OrderedDictionary<string, object?> dict:
                if (dict.Count == 0)
                {
                    builder.Append("{}");
                    break;
                }

                builder.Append('{');
                var first = true;
                IEnumerable<KeyValuePair<string, object?>> pairs = sortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : dict;
                foreach (var (key, item) in pairs)
                {
                    if (!first)
                    {
                        builder.Append(itemSeparator);
                    }

                    first = false;
                    NewLine(builder, indent, depth + 1);
                    WriteJsonString(builder, key, ensureAscii);
                    builder.Append(keySeparator);
                    WriteJson(builder, item, budget, indent, ensureAscii, itemSeparator, keySeparator, sortKeys, depth + 1);
                }

                NewLine(builder, indent, depth);
                builder.Append('}');
                break;
            default:
                throw new TemplateRuntimeException($"Object of type {TypeName(value)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder builder, string? indent, int depth)
    {
        if (indent is null)
        {
            return;
        }

        builder.Append('\n');
        for (var i = 0; i < depth; i++)
        {
            builder.Append(indent);
        }
    }

    private static void WriteJsonString(StringBuilder builder, string s, bool ensureAscii)
    {
        builder.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                case < ' ':
                    builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                case > '\x7f' when ensureAscii:
                    builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }

        builder.Append('"');
    }
}
