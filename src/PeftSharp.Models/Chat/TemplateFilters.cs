using System.Text.RegularExpressions;

namespace PeftSharp.Models.Chat;

/// <summary>Jinja's filters (<c>x | trim</c>, <c>x | tojson</c>…), with transformers' <c>tojson</c>.</summary>
internal static partial class TemplateFilters
{
    private static readonly HashSet<string> Names =
    [
        "trim", "tojson", "length", "count", "upper", "lower", "title", "capitalize", "replace", "default", "d", "join", "first", "last",
        "list", "string", "int", "float", "abs", "round", "items", "selectattr", "rejectattr", "select", "reject", "map", "unique", "sort",
        "reverse", "safe", "indent", "wordcount", "escape", "e", "forceescape", "dictsort", "max", "min", "sum", "format", "pprint", "attr", "batch",
    ];

    /// <summary>True when a filter named <paramref name="name"/> exists.</summary>
    public static bool Exists(string name) => Names.Contains(name);

    /// <summary>The items a for loop or a filter walks: a string's code points, a dict's keys, a list's items; undefined is empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? value, TemplateBudget budget)
    {
        switch (value)
        {
            case IReadOnlyList<object?> list:
                return list;
            case TemplateUndefined:
                return [];
            case string s:
                budget.ChargeSize(s.Length);
                return TemplateText.CodePoints(s).Select(c => (object?)c).ToList();
            case OrderedDictionary<string, object?> dict:
                budget.ChargeSize(dict.Count);
                return dict.Keys.Select(k => (object?)k).ToList();
            default:
                throw new TemplateRuntimeException($"'{TemplateValues.TypeName(value)}' object is not iterable");
        }
    }

    /// <summary><c>separator.join(str(item) for item in items)</c>, bounded.</summary>
    public static string Join(IEnumerable<object?> items, string separator, TemplateBudget budget)
    {
        var builder = new StringBuilder();
        var first = true;
        foreach (var item in items)
        {
            if (!first)
            {
                builder.Append(separator);
            }

            first = false;
            var text = TemplateValues.Str(item, budget);
            builder.Append(text);
            budget.Grow(builder.Length, text.Length + separator.Length);
        }

        return builder.ToString();
    }

    private static string Text(object? value, TemplateBudget budget)
    {
        TemplateValues.ThrowIfUndefined(value is TemplateUndefined ? null : value);
        return TemplateValues.Str(value, budget);
    }

    public static object? Apply(string name, object? value, TemplateArguments a, TemplateBudget budget)
    {
        switch (name)
        {
            case "safe":
            case "string":
                a.Check(name, 0);
                return TemplateValues.Str(value, budget);
            case "trim":
                a.Check(name, 1, "chars");
                return TemplateText.Strip(Text(value, budget), a.Get(0, "chars"), true, true);
            case "upper":
                return Text(value, budget).ToUpperInvariant();
            case "lower":
                return Text(value, budget).ToLowerInvariant();
            case "title":
                return TemplateText.TitleFilter(Text(value, budget));
            case "capitalize":
                return TemplateText.Capitalize(Text(value, budget));
            case "replace":
                a.Check(name, 3, "old", "new", "count");
                return TemplateText.Replace(Text(value, budget), TemplateValues.Str(a.Get(0, "old"), budget), TemplateValues.Str(a.Get(1, "new"), budget), a.Get(2, "count") is long c ? c : -1, budget);
            case "length" or "count":
                return value switch
                {
                    string s => TemplateText.Length(s),
                    IReadOnlyList<object?> list => (long)list.Count,
                    OrderedDictionary<string, object?> dict => (long)dict.Count,
                    TemplateUndefined => 0L,
                    _ => throw new TemplateRuntimeException($"object of type '{TemplateValues.TypeName(value)}' has no len()"),
                };
            case "default" or "d":
                a.Check(name, 2, "default_value", "boolean");
                return value is TemplateUndefined || (TemplateValues.IsTrue(a.Get(1, "boolean", false)) && !TemplateValues.IsTrue(value))
                    ? a.Get(0, "default_value", string.Empty)
                    : value;
            case "join":
                {
                    a.Check(name, 2, "d", "attribute");
                    var items = Iterate(value, budget);
                    var attribute = a.Get(1, "attribute");
                    return Join(attribute is null ? items : items.Select(i => Path(i, attribute, budget)), TemplateValues.Str(a.Get(0, "d", string.Empty), budget), budget);
                }

            case "first":
                {
                    var items = Iterate(value, budget);
                    return items.Count > 0 ? items[0] : new TemplateUndefined("No first item, sequence was empty.");
                }

            case "last":
                {
                    var items = Iterate(value, budget);
                    return items.Count > 0 ? items[^1] : new TemplateUndefined("No last item, sequence was empty.");
                }

            case "list":
                return Iterate(value, budget).ToList();
            case "int":
                return ToInt(value, a);
            case "float":
                return ToFloat(value, a);
            case "abs":
                return value switch
                {
                    long l => l == long.MinValue ? throw new TemplateRuntimeException("integer overflow in abs") : (object)Math.Abs(l),
                    bool b => b ? 1L : 0L,
                    double d => Math.Abs(d),
                    _ => throw new TemplateRuntimeException($"bad operand type for abs(): '{TemplateValues.TypeName(value)}'"),
                };
            case "round":
                return Round(value, a);
            case "items":
                return value switch
                {
                    TemplateUndefined => new List<object?>(),
                    OrderedDictionary<string, object?> dict => dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList(),
                    _ => throw new TemplateRuntimeException("Can only get item pairs from a mapping."),
                };
            case "dictsort":
                {
                    if (value is not OrderedDictionary<string, object?> dict)
                    {
                        throw new TemplateRuntimeException("You can only sort by either \"key\" or \"value\" of a mapping");
                    }

                    var caseSensitive = TemplateValues.IsTrue(a.Get(0, "case_sensitive", false));
                    var byValue = a.Get(1, "by", "key") is "value";
                    var pairs = dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
                    return Sorted(pairs, p => ((object?[])p!)[byValue ? 1 : 0], caseSensitive, TemplateValues.IsTrue(a.Get(2, "reverse", false)), budget);
                }

            case "selectattr" or "rejectattr":
                {
                    if (a.Positional.Count == 0)
                    {
                        throw new TemplateRuntimeException($"{name}() needs an attribute name");
                    }

                    var attribute = a.Positional[0];
                    var keep = name == "selectattr";
                    return Iterate(value, budget).Where(item => Check(Path(item, attribute, budget), a.Positional.Skip(1).ToList(), budget) == keep).ToList();
                }

            case "select" or "reject":
                {
                    var keep = name == "select";
                    return Iterate(value, budget).Where(item => Check(item, a.Positional, budget) == keep).ToList();
                }

            case "map":
                return Map(value, a, budget);
            case "unique":
                {
                    var caseSensitive = TemplateValues.IsTrue(a.Get(0, "case_sensitive", false));
                    var attribute = a.Get(1, "attribute");
                    var seen = new List<object?>();
                    var result = new List<object?>();
                    foreach (var item in Iterate(value, budget))
                    {
                        var key = Key(attribute is null ? item : Path(item, attribute, budget), caseSensitive);
                        if (!seen.Any(s => TemplateValues.AreEqual(s, key, budget)))
                        {
                            seen.Add(key);
                            result.Add(item);
                        }
                    }

                    return result;
                }

            case "sort":
                {
                    a.Check(name, 3, "reverse", "case_sensitive", "attribute");
                    var attribute = a.Get(2, "attribute");
                    return Sorted(Iterate(value, budget), i => attribute is null ? i : Path(i, attribute, budget), TemplateValues.IsTrue(a.Get(1, "case_sensitive", false)), TemplateValues.IsTrue(a.Get(0, "reverse", false)), budget);
                }

            case "max" or "min":
                {
                    var items = Iterate(value, budget);
                    if (items.Count == 0)
                    {
                        return new TemplateUndefined($"No aggregated item, sequence was empty.");
                    }

                    var attribute = a.Get(1, "attribute");
                    var sorted = Sorted(items, i => attribute is null ? i : Path(i, attribute, budget), TemplateValues.IsTrue(a.Get(0, "case_sensitive", false)), false, budget);
                    return name == "min" ? sorted[0] : sorted[^1];
                }

            case "sum":
                {
                    var attribute = a.Get(0, "attribute");
                    object? total = a.Get(1, "start", 0L);
                    foreach (var item in Iterate(value, budget))
                    {
                        total = TemplateOperators.Binary("+", total, attribute is null ? item : Path(item, attribute, budget), budget);
                    }

                    return total;
                }

            case "reverse":
                if (value is string text)
                {
                    var points = TemplateText.CodePoints(text);
                    points.Reverse();
                    return string.Concat(points);
                }

                var reversed = Iterate(value, budget).ToList();
                reversed.Reverse();
                return reversed;
            case "tojson":
                return ToJson(value, a, budget);
            case "indent":
                return Indent(Text(value, budget), a, budget);
            case "wordcount":
                return (long)WordPattern().Count(Text(value, budget));
            case "escape" or "e" or "forceescape":
                return Text(value, budget).Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
                    .Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);
            case "format":
                return TemplateText.Percent(Text(value, budget), a.Positional.Count == 1 ? a.Positional[0] : a.Positional.ToArray(), budget);
            case "pprint":
                return TemplateValues.Repr(value, budget);
            case "attr":
                return TemplateMembers.Attribute(value, TemplateValues.Str(a.Get(0, "name"), budget), budget);
            case "batch":
                {
                    var size = TemplateValues.ToLong(a.Get(0, "linecount", 1L));
                    if (size <= 0)
                    {
                        throw new TemplateRuntimeException("batch size must be positive");
                    }

                    var items = Iterate(value, budget);
                    var batches = new List<object?>();
                    for (var i = 0; i < items.Count; i += (int)Math.Min(size, int.MaxValue))
                    {
                        var batch = items.Skip(i).Take((int)Math.Min(size, int.MaxValue)).ToList();
                        if (a.Has(1, "fill_with"))
                        {
                            while (batch.Count < size)
                            {
                                budget.Charge(1);
                                batch.Add(a.Get(1, "fill_with"));
                            }
                        }

                        batches.Add(batch);
                    }

                    return batches;
                }

            default:
                throw new TemplateRuntimeException($"unsupported filter '{name}'");
        }
    }

    /// <summary>An attribute path <c>a.b.0</c> of <paramref name="item"/> (Jinja's attrgetter: item access first, then attribute).</summary>
    private static object? Path(object? item, object? attribute, TemplateBudget budget)
    {
        if (attribute is long index)
        {
            return TemplateMembers.Item(item, index, budget);
        }

        foreach (var part in TemplateValues.Str(attribute, budget).Split('.'))
        {
            item = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i)
                ? TemplateMembers.Item(item, i, budget)
                : TemplateMembers.Item(item, part, budget) is TemplateUndefined ? TemplateMembers.Attribute(item, part, budget) : TemplateMembers.Item(item, part, budget);
        }

        return item;
    }

    /// <summary>The test named by <paramref name="arguments"/>[0] (truthiness when none) applied to <paramref name="value"/>.</summary>
    private static bool Check(object? value, IReadOnlyList<object?> arguments, TemplateBudget budget)
    {
        if (arguments.Count == 0)
        {
            return TemplateValues.IsTrue(value);
        }

        var test = arguments[0] as string ?? throw new TemplateRuntimeException("the test name must be a string");
        return TemplateTests.Apply(test, value, arguments.Skip(1).ToList(), budget);
    }

    private static object? Map(object? value, TemplateArguments a, TemplateBudget budget)
    {
        var items = Iterate(value, budget);
        if (a.Named.TryGetValue("attribute", out var attribute))
        {
            var hasDefault = a.Named.TryGetValue("default", out var fallback);
            return items.Select(i => Path(i, attribute, budget) is TemplateUndefined undefined && hasDefault ? fallback : Path(i, attribute, budget)).ToList();
        }

        if (a.Positional.Count == 0 || a.Positional[0] is not string filter)
        {
            throw new TemplateRuntimeException("map() needs a filter name or attribute=");
        }

        var rest = new TemplateArguments(a.Positional.Skip(1).ToList(), a.Named);
        return items.Select(i => Apply(filter, i, rest, budget)).ToList();
    }

    private static object? Key(object? value, bool caseSensitive) => !caseSensitive && value is string s ? s.ToLowerInvariant() : value;

    private static List<object?> Sorted(IReadOnlyList<object?> items, Func<object?, object?> key, bool caseSensitive, bool reverse, TemplateBudget budget)
    {
        budget.ChargeSize(items.Count * 8L);
        var comparer = Comparer<object?>.Create((x, y) => TemplateValues.CompareOrder(Key(key(x), caseSensitive), Key(key(y), caseSensitive), "<", budget));
        return reverse ? [.. items.OrderByDescending(i => i, comparer)] : [.. items.OrderBy(i => i, comparer)];
    }

    private static object? ToInt(object? value, TemplateArguments a)
    {
        TemplateValues.ThrowIfUndefined(value);
        var fallback = a.Get(0, "default", 0L);
        switch (value)
        {
            case long or bool:
                return TemplateValues.ToLong(value);
            case double d:
                return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : fallback;
            case string s:
                var text = s.Trim().Replace("_", string.Empty, StringComparison.Ordinal);
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    return integer;
                }

                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real) && Math.Abs(real) < 9.2e18
                    ? (long)Math.Truncate(real)
                    : fallback;
            default:
                return fallback;
        }
    }

    private static object? ToFloat(object? value, TemplateArguments a)
    {
        TemplateValues.ThrowIfUndefined(value);
        var fallback = a.Get(0, "default", 0.0);
        return value switch
        {
            long or bool or double => TemplateValues.ToDouble(value),
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var real) => real,
            _ => fallback,
        };
    }

    private static object? Round(object? value, TemplateArguments a)
    {
        var precision = (int)Math.Clamp(TemplateValues.ToLong(a.Get(0, "precision", 0L)), -15, 15);
        var method = a.Get(1, "method", "common") as string;
        var number = TemplateValues.ToDouble(value);
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => value is long or bool && precision >= 0 ? (object)TemplateValues.ToLong(value) : precision >= 0 ? Math.Round(number, precision, MidpointRounding.ToEven) : Math.Round(number * scale, MidpointRounding.ToEven) / scale,
            "ceil" => Math.Ceiling(number * scale) / scale,
            "floor" => Math.Floor(number * scale) / scale,
            _ => throw new TemplateRuntimeException("method must be common, ceil or floor"),
        };
    }

    private static string ToJson(object? value, TemplateArguments a, TemplateBudget budget)
    {
        a.Check("tojson", 4, "ensure_ascii", "indent", "separators", "sort_keys");
        var indent = a.Get(1, "indent") switch
        {
            null => null,
            long n => new string(' ', (int)Math.Clamp(n, 0, 64)),
            string s => s,
            var other => throw new TemplateRuntimeException($"tojson indent must be an int or a string, not {TemplateValues.TypeName(other)}"),
        };
        var itemSeparator = ", ";
        var keySeparator = ": ";
        if (a.Get(2, "separators") is IReadOnlyList<object?> { Count: 2 } separators)
        {
            itemSeparator = TemplateValues.Str(separators[0], budget);
            keySeparator = TemplateValues.Str(separators[1], budget);
            if (indent is not null && itemSeparator == ", ")
            {
                itemSeparator = ", ";
            }
        }

        var json = TemplateValues.ToJson(value, budget, indent, TemplateValues.IsTrue(a.Get(0, "ensure_ascii", false)), itemSeparator, keySeparator, TemplateValues.IsTrue(a.Get(3, "sort_keys", false)));
        budget.ChargeSize(json.Length);
        return json;
    }

    private static string Indent(string text, TemplateArguments a, TemplateBudget budget)
    {
        var width = a.Get(0, "width", 4L);
        var indention = width is string w ? w : new string(' ', (int)Math.Clamp(TemplateValues.ToLong(width), 0, 1024));
        var first = TemplateValues.IsTrue(a.Get(1, "first", false));
        var blank = TemplateValues.IsTrue(a.Get(2, "blank", false));
        var lines = (text + "\n").Split('\n').SkipLast(1).ToList();
        budget.ChargeSize(text.Length + ((long)lines.Count * indention.Length));
        var builder = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            if (i > 0)
            {
                builder.Append('\n');
                if (blank || lines[i].Length > 0)
                {
                    builder.Append(indention);
                }
            }

            builder.Append(lines[i]);
        }

        return first ? indention + builder : builder.ToString();
    }

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordPattern();
}
