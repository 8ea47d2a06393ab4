namespace PeftSharp.Adapters;

/// <summary>How <see cref="TargetModules"/> selects modules.</summary>
public enum TargetModulesKind
{
    /// <summary>A list of names: a module matches when its full name equals an entry or ends with <c>"." + entry</c>.</summary>
    Names,

    /// <summary>One regular expression that must match the whole module name.</summary>
    Regex,

    /// <summary>Every linear layer except the model's output head (PEFT's <c>"all-linear"</c>).</summary>
    AllLinear,
}

/// <summary>
/// The modules an adapter targets, with PEFT's matching rules: a list of names matched by
/// dot-aligned suffix, a single regular expression matched against the whole name, or
/// <c>all-linear</c>.
/// </summary>
public sealed class TargetModules
{
    private TargetModules(TargetModulesKind kind, IReadOnlyList<string> names, string? pattern)
    {
        Kind = kind;
        Names = names;
        Pattern = pattern;
    }

    /// <summary>The selection rule.</summary>
    public TargetModulesKind Kind { get; }

    /// <summary>The names (for <see cref="TargetModulesKind.Names"/>).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The regular expression (for <see cref="TargetModulesKind.Regex"/>).</summary>
    public string? Pattern { get; }

    /// <summary>Every linear layer except the output head.</summary>
    public static TargetModules AllLinear { get; } = new(TargetModulesKind.AllLinear, [], null);

    /// <summary>Modules whose name equals one of <paramref name="names"/> or ends with <c>"." + name</c>.</summary>
    public static TargetModules FromNames(params string[] names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("target module names must not be empty", nameof(names));
        }

        return new TargetModules(TargetModulesKind.Names, names.ToArray(), null);
    }

    /// <summary>Modules whose whole name matches the regular expression <paramref name="pattern"/>.</summary>
    public static TargetModules FromRegex(string pattern)
    {
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        if (TargetSelector.RegexProblem(pattern, TargetSelector.WholeNamePattern(pattern)) is { } problem)
        {
            throw new PeftConfigurationException($"target pattern '{pattern}' is not a valid regular expression: {problem}");
        }

        return new TargetModules(TargetModulesKind.Regex, [], pattern);
    }

    /// <summary>
    /// PEFT's reading of a single string: <c>"all-linear"</c> (any case) selects all linear layers,
    /// anything else is a regular expression.
    /// </summary>
    public static TargetModules FromString(string value) =>
        string.Equals(value, "all-linear", StringComparison.OrdinalIgnoreCase) ? AllLinear : FromRegex(value);

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        TargetModulesKind.AllLinear => "all-linear",
        TargetModulesKind.Regex => $"regex '{Pattern}'",
        _ => "[" + string.Join(", ", Names.Select(n => $"'{n}'")) + "]",
    };
}
