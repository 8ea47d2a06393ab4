namespace PeftSharp.Models.Chat;

/// <summary>Python's arithmetic on template values (int results stay int; <c>/</c> is always float).</summary>
internal static class TemplateOperators
{
    public static object? Binary(string op, object? a, object? b, TemplateBudget budget)
    {
        TemplateValues.ThrowIfUndefined(a);
        TemplateValues.ThrowIfUndefined(b);
        try
        {
            return op switch
            {
                "+" => Add(a, b, budget),
                "-" => Numeric(op, a, b, (x, y) => checked(x - y), (x, y) => x - y),
                "*" => Multiply(a, b, budget),
                "/" => TemplateValues.IsNumber(a) && TemplateValues.IsNumber(b)
                    ? (TemplateValues.ToDouble(b) == 0 ? throw new TemplateRuntimeException("division by zero") : TemplateValues.ToDouble(a) / TemplateValues.ToDouble(b))
                    : throw Unsupported(op, a, b),
                "//" => Numeric(op, a, b, FloorDivide, (x, y) => y == 0 ? throw new TemplateRuntimeException("float floor division by zero") : Math.Floor(x / y)),
                "%" when a is string format => TemplateText.Percent(format, b, budget),
                "%" => Numeric(op, a, b, Modulo, (x, y) => y == 0 ? throw new TemplateRuntimeException("float modulo by zero") : x - (y * Math.Floor(x / y))),
                "**" => Power(a, b),
                _ => throw new TemplateRuntimeException($"unknown operator '{op}'"),
            };
        }
        catch (OverflowException)
        {
            throw new TemplateRuntimeException($"integer overflow in '{op}'");
        }
    }

    private static TemplateRuntimeException Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{TemplateValues.TypeName(a)}' and '{TemplateValues.TypeName(b)}'");

    private static object Numeric(string op, object? a, object? b, Func<long, long, long> integer, Func<double, double, double> real)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported(op, a, b);
        }

        return a is double || b is double ? (object)real(TemplateValues.ToDouble(a), TemplateValues.ToDouble(b)) : integer(TemplateValues.ToLong(a), TemplateValues.ToLong(b));
    }

    private static long FloorDivide(long x, long y)
    {
        if (y == 0)
        {
            throw new TemplateRuntimeException("integer division or modulo by zero");
        }

        var quotient = checked(x / y);
        return (x % y != 0) && ((x < 0) != (y < 0)) ? quotient - 1 : quotient;
    }

    private static long Modulo(long x, long y)
    {
        if (y == 0)
        {
            throw new TemplateRuntimeException("integer division or modulo by zero");
        }

        if (y == -1)
        {
            return 0;
        }

        var remainder = x % y;
        return remainder != 0 && ((remainder < 0) != (y < 0)) ? remainder + y : remainder;
    }

    private static object Power(object? a, object? b)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported("**", a, b);
        }

        if (a is double || b is double || TemplateValues.ToLong(b) < 0)
        {
            return Math.Pow(TemplateValues.ToDouble(a), TemplateValues.ToDouble(b));
        }

        var baseValue = TemplateValues.ToLong(a);
        var exponent = TemplateValues.ToLong(b);
        if (baseValue is 0 or 1 or -1)
        {
            return exponent == 0 ? 1L : baseValue == -1 && exponent % 2 == 0 ? 1L : baseValue;
        }

        long result = 1;
        for (; exponent > 0; exponent--)
        {
            result = checked(result * baseValue);
        }

        return result;
    }

    private static object? Add(object? a, object? b, TemplateBudget budget)
    {
        switch (a)
        {
            case string s when b is string t:
                budget.ChargeSize((long)s.Length + t.Length);
                return s + t;
            case List<object?> x when b is List<object?> y:
                budget.ChargeSize((long)x.Count + y.Count);
                return new List<object?>([.. x, .. y]);
            case object?[] x when b is object?[] y:
                budget.ChargeSize((long)x.Length + y.Length);
                return (object?[])[.. x, .. y];
            default:
                return Numeric("+", a, b, (x, y) => checked(x + y), (x, y) => x + y);
        }
    }

    private static object? Multiply(object? a, object? b, TemplateBudget budget)
    {
        if (a is long or bool && b is string or IReadOnlyList<object?>)
        {
            (a, b) = (b, a);
        }

        switch (a)
        {
            case string s when b is long or bool:
                var times = Math.Max(0, TemplateValues.ToLong(b));
                budget.ChargeSize(s.Length * Math.Min(times, int.MaxValue));
                return string.Concat(Enumerable.Repeat(s, (int)times));
            case IReadOnlyList<object?> list when b is long or bool:
                var count = Math.Max(0, TemplateValues.ToLong(b));
                budget.ChargeSize(list.Count * Math.Min(count, int.MaxValue));
                var items = new List<object?>();
                for (var i = 0; i < count; i++)
                {
                    items.AddRange(list);
                }

                return a is object?[] ? items.ToArray() : items;
            default:
                return Numeric("*", a, b, (x, y) => checked(x * y), (x, y) => x * y);
        }
    }
}
