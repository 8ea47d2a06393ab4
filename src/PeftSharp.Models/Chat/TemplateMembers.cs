namespace PeftSharp.Models.Chat;

/// <summary>Attribute and item access as Jinja's sandbox does it: dict keys, string, dict and list methods, slices, negative indices.</summary>
internal static class TemplateMembers
{
    private static readonly HashSet<string> MutatingMethods =
        ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault", "popitem", "add", "discard"];

    /// <summary><c>target.name</c>: methods first, then dict keys (undefined when missing, as Jinja).</summary>
    public static object? Attribute(object? target, string name, TemplateBudget budget)
    {
        switch (target)
        {
            case TemplateUndefined undefined:
                throw new TemplateRuntimeException(undefined.Description);
            case OrderedDictionary<string, object?> dict:
                if (DictMethod(dict, name) is { } method)
                {
                    return method;
                }

                return dict.TryGetValue(name, out var value) ? value : new TemplateUndefined($"'dict object' has no attribute '{name}'");
            case string s:
                return (object?)StringMethod(s, name, budget) ?? new TemplateUndefined($"'str object' has no attribute '{name}'");
            case IReadOnlyList<object?> list:
                return (object?)ListMethod(list, name, budget) ?? new TemplateUndefined($"'{TemplateValues.TypeName(target)} object' has no attribute '{name}'");
            case TemplateNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : new TemplateUndefined($"'Namespace object' has no attribute '{name}'");
            case TemplateLoop loop:
                return loop.Attribute(name);
            default:
                return new TemplateUndefined($"'{TemplateValues.TypeName(target)} object' has no attribute '{name}'");
        }
    }

    /// <summary><c>target[index]</c>: keys, indices (negative from the end), slices; undefined when missing, as Jinja.</summary>
    public static object? Item(object? target, object? index, TemplateBudget budget)
    {
        switch (target)
        {
            case TemplateUndefined undefined:
                throw new TemplateRuntimeException(undefined.Description);
            case OrderedDictionary<string, object?> dict:
                if (index is string key)
                {
                    return dict.TryGetValue(key, out var value) ? value : Attribute(target, key, budget) is var attribute && attribute is TemplateCallable ? attribute : new TemplateUndefined($"'dict object' has no attribute '{key}'");
                }

                return new TemplateUndefined($"'dict object' has no element of type '{TemplateValues.TypeName(index)}'");
            case string s when index is long or bool:
                {
                    if (!TemplateText.IsSimple(s))
                    {
                        budget.ChargeSize(s.Length);
                    }

                    var points = TemplateText.IsSimple(s) ? null : TemplateText.CodePoints(s);
                    var count = points?.Count ?? s.Length;
                    var i = TemplateValues.ToLong(index);
                    i = i < 0 ? i + count : i;
                    return i < 0 || i >= count ? new TemplateUndefined("string index out of range") : points?[(int)i] ?? s[(int)i].ToString();
                }

            case IReadOnlyList<object?> list when index is long or bool:
                {
                    var i = TemplateValues.ToLong(index);
                    i = i < 0 ? i + list.Count : i;
                    return i < 0 || i >= list.Count ? new TemplateUndefined($"{TemplateValues.TypeName(target)} index out of range") : list[(int)i];
                }

            case TemplateNamespace or TemplateLoop when index is string name:
                return Attribute(target, name, budget);
            default:
                return new TemplateUndefined($"'{TemplateValues.TypeName(target)} object' has no element of type '{TemplateValues.TypeName(index)}'");
        }
    }

    /// <summary><c>target[start:stop:step]</c> on strings, lists and tuples (Python's slice rules).</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step, TemplateBudget budget)
    {
        TemplateValues.ThrowIfUndefined(target);
        long? Bound(object? value) => value switch
        {
            null or TemplateUndefined => null,
            long or bool => TemplateValues.ToLong(value),
            _ => throw new TemplateRuntimeException($"slice indices must be integers or None, not {TemplateValues.TypeName(value)}"),
        };

        var stride = Bound(step) ?? 1;
        if (stride == 0)
        {
            throw new TemplateRuntimeException("slice step cannot be zero");
        }

        IReadOnlyList<object?> items;
        List<string>? points = null;
        switch (target)
        {
            case string s:
                budget.ChargeSize(s.Length);
                points = TemplateText.CodePoints(s);
                items = points;
                break;
            case IReadOnlyList<object?> list:
                items = list;
                break;
            default:
                throw new TemplateRuntimeException($"'{TemplateValues.TypeName(target)}' object is not subscriptable");
        }

        var count = points?.Count ?? items.Count;
        long Clamp(long? value, long fallback)
        {
            if (value is not { } v)
            {
                return fallback;
            }

            v = v < 0 ? v + count : v;
            return stride > 0 ? Math.Clamp(v, 0, count) : Math.Clamp(v, -1, count - 1);
        }

        var from = Clamp(Bound(start), stride > 0 ? 0 : count - 1);
        var to = Clamp(Bound(stop), stride > 0 ? count : -1);
        var indices = new List<int>();
        for (var i = from; stride > 0 ? i < to : i > to; i += stride)
        {
            indices.Add((int)i);
        }

        budget.ChargeSize(indices.Count);
        if (points is not null)
        {
            return string.Concat(indices.Select(i => points[i]));
        }

        var result = indices.Select(i => items[i]).ToList();
        return target is object?[] ? result.ToArray() : result;
    }

    private static TemplateCallable Method(string name, Func<TemplateArguments, object?> invoke) => new(name, invoke);

    private static TemplateCallable? DictMethod(OrderedDictionary<string, object?> dict, string name) => name switch
    {
        "items" => Method("dict.items", a =>
        {
            a.Check("items", 0);
            return dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
        }),
        "keys" => Method("dict.keys", a =>
        {
            a.Check("keys", 0);
            return dict.Keys.Select(k => (object?)k).ToList();
        }),
        "values" => Method("dict.values", a =>
        {
            a.Check("values", 0);
            return dict.Values.ToList();
        }),
        "get" => Method("dict.get", a =>
        {
            a.Check("get", 2);
            return a.Get(0, "key") is string key && dict.TryGetValue(key, out var value) ? value : a.Get(1, "default");
        }),
        "copy" => Method("dict.copy", _ => new OrderedDictionary<string, object?>(dict)),
        _ when MutatingMethods.Contains(name) => Method("dict." + name, _ => throw new TemplateRuntimeException($"dict.{name}() modifies a value, which the sandbox does not allow")),
        _ => null,
    };

    private static TemplateCallable? ListMethod(IReadOnlyList<object?> list, string name, TemplateBudget budget) => name switch
    {
        "index" => Method("list.index", a =>
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (TemplateValues.AreEqual(list[i], a.Get(0, "value"), budget))
                {
                    return (long)i;
                }
            }

            throw new TemplateRuntimeException("value is not in list");
        }),
        "count" => Method("list.count", a => (long)list.Count(item => TemplateValues.AreEqual(item, a.Get(0, "value"), budget))),
        "copy" => Method("list.copy", _ => list.ToList()),
        _ when MutatingMethods.Contains(name) => Method("list." + name, _ => throw new TemplateRuntimeException($"list.{name}() modifies a value, which the sandbox does not allow")),
        _ => null,
    };

    private static string Text(object? value, string method) =>
        value as string ?? throw new TemplateRuntimeException($"str.{method}() needs a string argument, not {TemplateValues.TypeName(value)}");

    private static bool Affix(string s, object? affix, bool prefix, string method)
    {
        var affixes = affix is IReadOnlyList<object?> tuple ? tuple.Select(a => Text(a, method)) : [Text(affix, method)];
        return affixes.Any(a => prefix ? s.StartsWith(a, StringComparison.Ordinal) : s.EndsWith(a, StringComparison.Ordinal));
    }

    private static TemplateCallable? StringMethod(string s, string name, TemplateBudget budget) => name switch
    {
        "strip" => Method("str.strip", a => TemplateText.Strip(s, a.Get(0, "chars"), true, true)),
        "lstrip" => Method("str.lstrip", a => TemplateText.Strip(s, a.Get(0, "chars"), true, false)),
        "rstrip" => Method("str.rstrip", a => TemplateText.Strip(s, a.Get(0, "chars"), false, true)),
        "split" => Method("str.split", a => TemplateText.Split(s, a.Get(0, "sep"), a.Get(1, "maxsplit") is { } max ? TemplateValues.ToLong(max) : -1, budget)),
        "startswith" => Method("str.startswith", a => Affix(s, a.Get(0, "prefix"), true, "startswith")),
        "endswith" => Method("str.endswith", a => Affix(s, a.Get(0, "suffix"), false, "endswith")),
        "upper" => Method("str.upper", _ => s.ToUpperInvariant()),
        "lower" => Method("str.lower", _ => s.ToLowerInvariant()),
        "title" => Method("str.title", _ => TemplateText.Title(s)),
        "capitalize" => Method("str.capitalize", _ => TemplateText.Capitalize(s)),
        "replace" => Method("str.replace", a => TemplateText.Replace(s, Text(a.Get(0, "old"), name), Text(a.Get(1, "new"), name), a.Get(2, "count") is { } c ? TemplateValues.ToLong(c) : -1, budget)),
        "find" => Method("str.find", a => TemplateText.CodePointIndex(s, s.IndexOf(Text(a.Get(0, "sub"), name), StringComparison.Ordinal))),
        "rfind" => Method("str.rfind", a => TemplateText.CodePointIndex(s, s.LastIndexOf(Text(a.Get(0, "sub"), name), StringComparison.Ordinal))),
        "index" => Method("str.index", a => s.IndexOf(Text(a.Get(0, "sub"), name), StringComparison.Ordinal) is var at && at >= 0 ? TemplateText.CodePointIndex(s, at) : throw new TemplateRuntimeException("substring not found")),
        "count" => Method("str.count", a => Count(s, Text(a.Get(0, "sub"), name))),
        "format" => Method("str.format", a => TemplateText.Format(s, a, budget)),
        "join" => Method("str.join", a => TemplateFilters.Join(TemplateFilters.Iterate(a.Get(0, "iterable"), budget), s, budget)),
        "splitlines" => Method("str.splitlines", _ => s.Split('\n').Select(l => (object?)l.TrimEnd('\r')).SkipLast(s.EndsWith('\n') ? 1 : 0).ToList()),
        "isdigit" => Method("str.isdigit", _ => s.Length > 0 && s.All(char.IsDigit)),
        "isalpha" => Method("str.isalpha", _ => s.Length > 0 && s.All(char.IsLetter)),
        "isalnum" => Method("str.isalnum", _ => s.Length > 0 && s.All(char.IsLetterOrDigit)),
        "isspace" => Method("str.isspace", _ => s.Length > 0 && s.All(TemplateText.IsSpace)),
        "isupper" => Method("str.isupper", _ => s.Any(char.IsLetter) && !s.Any(char.IsLower)),
        "islower" => Method("str.islower", _ => s.Any(char.IsLetter) && !s.Any(char.IsUpper)),
        _ => null,
    };

    private static long Count(string s, string sub)
    {
        if (sub.Length == 0)
        {
            return TemplateText.Length(s) + 1;
        }

        var count = 0L;
        for (var at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
