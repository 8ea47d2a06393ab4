using System.Reflection;
using PeftSharp.IO.Json;

namespace PeftSharp.IO;

/// <summary>
/// Reports the problems a configuration's checks find. A configuration read from a file is reported
/// by its JSON key (<c>adapter_config.json: field 'r': expected an integer &gt; 0, found -3</c>), one
/// built in code by its property (<c>LoraConfig.R must be an integer &gt; 0, got -3</c>).
/// </summary>
public sealed class ConfigValidator
{
    private readonly string _typeName;
    private readonly string? _file;
    private readonly bool _reading;

    /// <summary>Creates the validator of a configuration of type <paramref name="typeName"/>, read from <paramref name="file"/> (null: built in code).</summary>
    /// <param name="typeName">The configuration's type, for messages about configurations built in code.</param>
    /// <param name="file">The file the configuration came from, or null.</param>
    /// <param name="reading">True while the file is read: problems are <see cref="ConfigFormatException"/>s; otherwise <see cref="PeftConfigurationException"/>s.</param>
    public ConfigValidator(string typeName, string? file, bool reading)
    {
        _typeName = typeName;
        _file = file;
        _reading = reading;
    }

    /// <summary>
    /// Runs the <see cref="FieldCheckAttribute"/>s declared on <paramref name="config"/>'s properties, the
    /// base type's first. A field is named by its property and by its JSON key, as the configuration
    /// contracts name it (<see cref="ConfigContract.FieldName"/>).
    /// </summary>
    public void CheckDeclared(object config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var types = new Stack<Type>();
        for (var type = config.GetType(); type is not null && type != typeof(object); type = type.BaseType)
        {
            types.Push(type);
        }

        const BindingFlags Declared = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        foreach (var property in types.SelectMany(t => t.GetProperties(Declared).OrderBy(p => p.MetadataToken)))
        {
            foreach (var rule in property.GetCustomAttributes<FieldCheckAttribute>(inherit: false))
            {
                if (property.GetValue(config) is { } value)
                {
                    Check(rule, value, property.Name, ConfigContract.FieldName(property));
                }
            }
        }
    }

    /// <summary>Fails unless <paramref name="condition"/> holds.</summary>
    /// <param name="condition">The check.</param>
    /// <param name="property">The property (<c>R</c>).</param>
    /// <param name="key">The JSON key (<c>r</c>, <c>rank_pattern.q</c>).</param>
    /// <param name="expectation">What the value must be, with its article (<c>an integer &gt; 0</c>).</param>
    /// <param name="found">The value.</param>
    public void Require(bool condition, string property, string key, string expectation, object? found)
    {
        if (!condition)
        {
            throw Problem(property, key, $"expected {expectation}, found {Show(found)}", $"must be {expectation}, got {Show(found)}");
        }
    }

    /// <summary>Fails with <paramref name="problem"/> (a phrase such as <c>cannot be combined with a regex target_modules</c>).</summary>
    public void Fail(string property, string key, string problem) => throw Problem(property, key, problem, problem);

    /// <summary>Fails unless <paramref name="value"/> is null or one of <paramref name="allowed"/>.</summary>
    public void OneOf(string? value, IReadOnlyList<string> allowed, string property, string key)
    {
        if (value is not null && !allowed.Contains(value))
        {
            Fail(property, key, $"\"{value}\" is not one of {string.Join(", ", allowed)}");
        }
    }

    /// <summary>A rank: an integer &gt; 0 (for values that are not a property, such as a pattern's entries).</summary>
    public void Rank(int value, string property, string key) => Check(new RankAttribute(), value, property, key);

    /// <summary>A finite number (for values that are not a property, such as a pattern's entries).</summary>
    public void Finite(double value, string property, string key) => Check(new FiniteAttribute(), value, property, key);

    /// <summary>Fails when <paramref name="problem"/> (from <c>TargetSelector.RegexProblem</c>) is not null.</summary>
    public void Regex(string pattern, string? problem, string property, string key)
    {
        if (problem is not null)
        {
            Fail(property, key, $"'{pattern}' is not a valid regular expression: {problem}");
        }
    }

    private void Check(FieldCheckAttribute rule, object value, string property, string key)
    {
        if (rule.Problem(value) is { } expectation)
        {
            Require(false, property, key, expectation, value);
        }
    }

    private PeftException Problem(string property, string key, string fileProblem, string codeProblem)
    {
        if (_file is null)
        {
            return new PeftConfigurationException($"{_typeName}.{property} {codeProblem}");
        }

        return _reading
            ? new ConfigFormatException(_file, key, fileProblem)
            : new PeftConfigurationException($"{_file}: field '{key}': {fileProblem}");
    }

    private static string Show(object? value) => value switch
    {
        null => "none",
        string s => $"\"{s}\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "none",
    };
}
