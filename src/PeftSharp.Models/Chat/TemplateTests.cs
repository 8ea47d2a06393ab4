namespace PeftSharp.Models.Chat;

/// <summary>Jinja's tests (<c>x is defined</c>, <c>x is string</c>, <c>x is equalto y</c>…).</summary>
internal static class TemplateTests
{
    /// <summary>True when a test named <paramref name="name"/> exists.</summary>
    public static bool Exists(string name) => name is "defined" or "undefined" or "none" or "string" or "mapping" or "iterable" or "sequence"
        or "number" or "integer" or "float" or "boolean" or "true" or "false" or "equalto" or "eq" or "==" or "ne" or "!=" or "lt" or "<" or "le" or "<="
        or "gt" or ">" or "ge" or ">=" or "greaterthan" or "lessthan" or "odd" or "even" or "divisibleby" or "sameas" or "in" or "callable" or "lower" or "upper"
        or "filter" or "test";

    public static bool Apply(string name, object? value, IReadOnlyList<object?> arguments, TemplateBudget budget)
    {
        object? Argument()
        {
            if (arguments.Count != 1)
            {
                throw new TemplateRuntimeException($"test '{name}' takes one argument ({arguments.Count} given)");
            }

            return arguments[0];
        }

        if (arguments.Count > 0 && name is not ("equalto" or "eq" or "==" or "ne" or "!=" or "lt" or "<" or "le" or "<=" or "gt" or ">" or "ge" or ">=" or "greaterthan" or "lessthan" or "divisibleby" or "sameas" or "in"))
        {
            throw new TemplateRuntimeException($"test '{name}' takes no arguments");
        }

        switch (name)
        {
            case "defined":
                return value is not TemplateUndefined;
            case "undefined":
                return value is TemplateUndefined;
            case "none":
                return value is null;
            case "string":
                return value is string;
            case "mapping":
                return value is OrderedDictionary<string, object?>;
            case "iterable":
                return value is string or IReadOnlyList<object?> or OrderedDictionary<string, object?> or TemplateUndefined;
            case "sequence":
                return value is string or IReadOnlyList<object?> or OrderedDictionary<string, object?>;
            case "number":
                return TemplateValues.IsNumber(value);
            case "integer":
                return value is long;
            case "float":
                return value is double;
            case "boolean":
                return value is bool;
            case "true":
                return value is true;
            case "false":
                return value is false;
            case "callable":
                return value is TemplateCallable;
            case "lower":
                return value is string lower && lower.Any(char.IsLetter) && !lower.Any(char.IsUpper);
            case "upper":
                return value is string upper && upper.Any(char.IsLetter) && !upper.Any(char.IsLower);
            case "odd":
                return TemplateValues.ToLong(Integer(value, name)) % 2 != 0;
            case "even":
                return TemplateValues.ToLong(Integer(value, name)) % 2 == 0;
            case "divisibleby":
                var divisor = TemplateValues.ToLong(Integer(Argument(), name));
                return divisor == 0 ? throw new TemplateRuntimeException("integer division or modulo by zero") : TemplateValues.ToLong(Integer(value, name)) % divisor == 0;
            case "equalto" or "eq" or "==":
                return TemplateValues.AreEqual(value, Argument(), budget);
            case "ne" or "!=":
                return !TemplateValues.AreEqual(value, Argument(), budget);
            case "lt" or "<" or "lessthan":
                return TemplateValues.CompareOrder(value, Argument(), "<", budget) < 0;
            case "le" or "<=":
                return TemplateValues.CompareOrder(value, Argument(), "<=", budget) <= 0;
            case "gt" or ">" or "greaterthan":
                return TemplateValues.CompareOrder(value, Argument(), ">", budget) > 0;
            case "ge" or ">=":
                return TemplateValues.CompareOrder(value, Argument(), ">=", budget) >= 0;
            case "sameas":
                var other = Argument();
                return value is null or bool ? Equals(value, other) : ReferenceEquals(value, other);
            case "in":
                return TemplateInterpreter.Contains(Argument(), value, budget);
            case "filter":
                return value is string filter && TemplateFilters.Exists(filter);
            case "test":
                return value is string test && Exists(test);
            default:
                throw new TemplateRuntimeException($"unsupported test '{name}'");
        }
    }

    private static object? Integer(object? value, string test) =>
        value is long or bool ? value : throw new TemplateRuntimeException($"test '{test}' needs an integer, not {TemplateValues.TypeName(value)}");
}
