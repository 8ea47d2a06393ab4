namespace PeftSharp.Models.Chat;

/// <summary>Python's <c>str</c> methods and indexing by code point.</summary>
internal static class TemplateText
{
    /// <summary>True when <paramref name="s"/> holds no UTF-16 surrogate (one char is one code point).</summary>
    public static bool IsSimple(string s) => !s.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF');

    /// <summary>The code points of <paramref name="s"/> as strings (a lone surrogate is one).</summary>
    public static List<string> CodePoints(string s)
    {
        var points = new List<string>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsSurrogatePair(s, i))
            {
                points.Add(s.Substring(i, 2));
                i++;
            }
            else
            {
                points.Add(s[i].ToString());
            }
        }

        return points;
    }

    /// <summary>Python's <c>len(s)</c>.</summary>
    public static long Length(string s)
    {
        if (IsSimple(s))
        {
            return s.Length;
        }

        var length = 0L;
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsSurrogatePair(s, i))
            {
                i++;
            }

            length++;
        }

        return length;
    }

    /// <summary>The code-point index of the char at <paramref name="charIndex"/>.</summary>
    public static long CodePointIndex(string s, int charIndex)
    {
        if (charIndex < 0 || IsSimple(s))
        {
            return charIndex;
        }

        var pairs = 0;
        for (var i = 0; i + 1 < charIndex; i++)
        {
            if (char.IsSurrogatePair(s, i))
            {
                pairs++;
                i++;
            }
        }

        return charIndex - pairs;
    }

    /// <summary>Python's <c>str.isspace()</c> for one char.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is '\x1c' or '\x1d' or '\x1e' or '\x1f';

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars switch
        {
            null or TemplateUndefined => IsSpace,
            string set => set.Contains,
            _ => throw new TemplateRuntimeException($"strip arg must be None or str, not {TemplateValues.TypeName(chars)}"),
        };
        var start = 0;
        var end = s.Length;
        while (left && start < end && strip(s[start]))
        {
            start++;
        }

        while (right && end > start && strip(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }

    public static List<object?> Split(string s, object? separator, long maxSplit, TemplateBudget budget)
    {
        budget.ChargeSize(s.Length);
        var parts = new List<object?>();
        if (separator is null or TemplateUndefined)
        {
            var i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                if (maxSplit >= 0 && parts.Count == maxSplit)
                {
                    parts.Add(s[i..]);
                    break;
                }

                var start = i;
                while (i < s.Length && !IsSpace(s[i]))
                {
                    i++;
                }

                parts.Add(s[start..i]);
                budget.Charge(1);
            }

            return parts;
        }

        if (separator is not string sep)
        {
            throw new TemplateRuntimeException($"must be str or None, not {TemplateValues.TypeName(separator)}");
        }

        if (sep.Length == 0)
        {
            throw new TemplateRuntimeException("empty separator");
        }

        var from = 0;
        while (true)
        {
            var at = maxSplit >= 0 && parts.Count == maxSplit ? -1 : s.IndexOf(sep, from, StringComparison.Ordinal);
            budget.Charge(1);
            if (at < 0)
            {
                parts.Add(s[from..]);
                return parts;
            }

            parts.Add(s[from..at]);
            from = at + sep.Length;
        }
    }

    public static string Replace(string s, string old, string replacement, long count, TemplateBudget budget)
    {
        if (count == 0)
        {
            return s;
        }

        var occurrences = 0L;
        if (old.Length == 0)
        {
            occurrences = Length(s) + 1;
        }
        else
        {
            for (var at = s.IndexOf(old, StringComparison.Ordinal); at >= 0; at = s.IndexOf(old, at + old.Length, StringComparison.Ordinal))
            {
                occurrences++;
            }
        }

        if (count > 0)
        {
            occurrences = Math.Min(occurrences, count);
        }

        budget.ChargeSize(s.Length + occurrences * (replacement.Length - old.Length));
        var builder = new StringBuilder();
        if (old.Length == 0)
        {
            var points = CodePoints(s);
            for (var i = 0; i < points.Count; i++)
            {
                if (i < occurrences)
                {
                    builder.Append(replacement);
                }

                builder.Append(points[i]);
            }

            if (points.Count < occurrences)
            {
                builder.Append(replacement);
            }

            return builder.ToString();
        }

        var from = 0;
        for (var done = 0L; done < occurrences; done++)
        {
            var at = s.IndexOf(old, from, StringComparison.Ordinal);
            builder.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }

        return builder.Append(s, from, s.Length - from).ToString();
    }

    /// <summary>Python's <c>str.title()</c>: a letter after a non-letter is upper case, other letters lower case.</summary>
    public static string Title(string s)
    {
        var builder = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            builder.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }

        return builder.ToString();
    }

    /// <summary>Jinja's <c>title</c> filter: words start after whitespace, <c>-</c>, <c>(</c>, <c>{</c>, <c>[</c> or <c>&lt;</c>; each is upper case first, lower case after.</summary>
    public static string TitleFilter(string s)
    {
        var builder = new StringBuilder(s.Length);
        var wordStart = true;
        foreach (var c in s)
        {
            var separator = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            builder.Append(separator ? c : wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = separator;
        }

        return builder.ToString();
    }

    /// <summary>Python's <c>str.capitalize()</c>.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary><c>str.format</c> with <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields (no format specs).</summary>
    public static string Format(string s, TemplateArguments arguments, TemplateBudget budget)
    {
        var builder = new StringBuilder();
        var next = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{')
            {
                builder.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < s.Length && s[i + 1] == '}')
            {
                builder.Append('}');
                i++;
            }
            else if (c == '{')
            {
                var end = s.IndexOf('}', i);
                if (end < 0)
                {
                    throw new TemplateRuntimeException("Single '{' encountered in format string");
                }

                var field = s[(i + 1)..end];
                if (field.Contains(':') || field.Contains('!') || field.Contains('.') || field.Contains('['))
                {
                    throw new TemplateRuntimeException($"format field '{{{field}}}' is not supported (only {{}}, {{0}} and {{name}})");
                }

                object? value;
                if (field.Length == 0)
                {
                    value = next < arguments.Positional.Count ? arguments.Positional[next++] : throw new TemplateRuntimeException("Replacement index out of range for positional args tuple");
                }
                else if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                {
                    value = index < arguments.Positional.Count ? arguments.Positional[index] : throw new TemplateRuntimeException("Replacement index out of range for positional args tuple");
                }
                else
                {
                    value = arguments.Named.TryGetValue(field, out var named) ? named : throw new TemplateRuntimeException($"KeyError: '{field}'");
                }

                var text = TemplateValues.Str(value, budget);
                builder.Append(text);
                budget.Grow(builder.Length, text.Length);
                i = end;
            }
            else if (c == '}')
            {
                throw new TemplateRuntimeException("Single '}' encountered in format string");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    /// <summary>Python's <c>s % args</c> with <c>%s</c>, <c>%r</c>, <c>%d</c>, <c>%i</c> and <c>%%</c>.</summary>
    public static string Percent(string s, object? arguments, TemplateBudget budget)
    {
        var values = arguments is object?[] tuple ? tuple : [arguments];
        var builder = new StringBuilder();
        var next = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '%')
            {
                builder.Append(s[i]);
                continue;
            }

            if (++i >= s.Length)
            {
                throw new TemplateRuntimeException("incomplete format");
            }

            if (s[i] == '%')
            {
                builder.Append('%');
                continue;
            }

            if (next >= values.Length)
            {
                throw new TemplateRuntimeException("not enough arguments for format string");
            }

            var value = values[next++];
            var before = builder.Length;
            builder.Append(s[i] switch
            {
                's' => TemplateValues.Str(value, budget),
                'r' => TemplateValues.Repr(value, budget),
                'd' or 'i' => TemplateValues.IsNumber(value) ? ((long)Math.Truncate(TemplateValues.ToDouble(value))).ToString(CultureInfo.InvariantCulture) : throw new TemplateRuntimeException($"%{s[i]} format: a real number is required, not {TemplateValues.TypeName(value)}"),
                _ => throw new TemplateRuntimeException($"unsupported format character '{s[i]}'"),
            });
            budget.Grow(builder.Length, builder.Length - before);
        }

        if (next < values.Length)
        {
            throw new TemplateRuntimeException("not all arguments converted during string formatting");
        }

        return builder.ToString();
    }
}
