using System.Text.RegularExpressions;

namespace PeftSharp.Adapters;

/// <summary>PEFT's module-selection rules (target, exclude, modules_to_save, layers_to_transform, patterns).</summary>
public static class TargetSelector
{
    /// <summary>True when <paramref name="moduleName"/> matches <paramref name="targets"/> (not for <see cref="TargetModulesKind.AllLinear"/>).</summary>
    public static bool Matches(TargetModules targets, string moduleName) => targets.Kind switch
    {
        TargetModulesKind.Regex => IsMatch(moduleName, WholeNamePattern(targets.Pattern!), "target_modules", targets.Pattern!),
        TargetModulesKind.Names => targets.Names.Any(n => MatchesSuffix(moduleName, n)),
        _ => throw new ArgumentException("all-linear is resolved against the model, not by name", nameof(targets)),
    };

    /// <summary>True when <paramref name="moduleName"/> equals <paramref name="entry"/> or ends with <c>"." + entry</c>.</summary>
    public static bool MatchesSuffix(string moduleName, string entry) =>
        moduleName == entry || moduleName.EndsWith("." + entry, StringComparison.Ordinal);

    /// <summary>True when <paramref name="moduleName"/> lies inside (or is) a module listed in <paramref name="modulesToSave"/>.</summary>
    public static bool IsInsideModulesToSave(IReadOnlyList<string>? modulesToSave, string moduleName) =>
        modulesToSave is not null && modulesToSave.Any(m => ContainsSegments(moduleName, m));

    /// <summary>True when <paramref name="segments"/> occurs in <paramref name="moduleName"/> between dots (or the name's ends).</summary>
    private static bool ContainsSegments(string moduleName, string segments)
    {
        if (segments.Length == 0)
        {
            return false;
        }

        for (var at = moduleName.IndexOf(segments, StringComparison.Ordinal); at >= 0; at = moduleName.IndexOf(segments, at + 1, StringComparison.Ordinal))
        {
            var end = at + segments.Length;
            if ((at == 0 || moduleName[at - 1] == '.') && (end == moduleName.Length || moduleName[end] == '.'))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The layer index of <paramref name="moduleName"/>: the first all-digit segment that follows at
    /// least one other segment and is followed by another, and (given <paramref name="layersPattern"/>)
    /// comes right after a segment that fully matches one of the patterns. Null when there is none.
    /// </summary>
    public static int? LayerIndex(string moduleName, IReadOnlyList<string>? layersPattern)
    {
        var segments = moduleName.Split('.');
        for (var i = 1; i < segments.Length - 1; i++)
        {
            if (segments[i].Length == 0 || !segments[i].All(char.IsAsciiDigit))
            {
                continue;
            }

            if (layersPattern is { Count: > 0 } &&
                !layersPattern.Any(p => IsMatch(segments[i - 1], WholeNamePattern(p), "layers_pattern", p)))
            {
                continue;
            }

            return int.TryParse(segments[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
                ? index
                : null;
        }

        return null;
    }

    /// <summary>
    /// True when <paramref name="moduleName"/> passes <see cref="AdapterConfig.LayersToTransform"/>
    /// (always true when no restriction is set).
    /// </summary>
    public static bool PassesLayerFilter(AdapterConfig config, string moduleName)
    {
        if (config.LayersToTransform is not { Count: > 0 } layers)
        {
            return true;
        }

        var index = LayerIndex(moduleName, config.LayersPattern);
        return index is not null && layers.Contains(index.Value);
    }

    /// <summary>
    /// The first of <paramref name="patternKeys"/> (in order) that matches <paramref name="moduleName"/>
    /// as PEFT's <c>rank_pattern</c> does: the key is a regular expression anchored at a dot boundary
    /// with an implied <c>$</c>. Null when no key matches.
    /// </summary>
    public static string? FindPatternKey(IEnumerable<string> patternKeys, string moduleName) =>
        patternKeys.FirstOrDefault(key => IsMatch(moduleName, PatternKeyPattern(key), "rank_pattern/alpha_pattern", key));

    /// <summary>How long one user pattern may take to match one module name.</summary>
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Matches a user-supplied pattern with a time bound, so a catastrophically backtracking pattern is an error, not a hang.</summary>
    private static bool IsMatch(string input, string regex, string field, string pattern)
    {
        try
        {
            return Regex.IsMatch(input, regex, RegexOptions.None, MatchTimeout);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new PeftConfigurationException($"{field}: the pattern '{pattern}' took longer than {MatchTimeout.TotalSeconds:0} s to match '{input}' (catastrophic backtracking?); simplify it", e);
        }
    }

    /// <summary>The regular expression that matches a whole name against <paramref name="pattern"/> (target_modules, layers_pattern).</summary>
    internal static string WholeNamePattern(string pattern) => $"^(?:{pattern})$";

    /// <summary>The regular expression that matches a module name against a rank_pattern/alpha_pattern key.</summary>
    internal static string PatternKeyPattern(string key) => $"^(?:.*\\.)?(?:{key})$";

    /// <summary>
    /// Why <paramref name="pattern"/> is not a usable regular expression, both alone and as it is
    /// used inside <paramref name="anchored"/>, or null when it is.
    /// </summary>
    internal static string? RegexProblem(string pattern, string anchored)
    {
        try
        {
            _ = new Regex(pattern);
            _ = new Regex(anchored);
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    /// <summary>Names from <paramref name="candidates"/> that resemble <paramref name="targets"/>, nearest first.</summary>
    public static IReadOnlyList<string> NearCandidates(TargetModules targets, IEnumerable<string> candidates, int count = 5)
    {
        var probes = targets.Kind switch
        {
            TargetModulesKind.Names => targets.Names,
            TargetModulesKind.Regex => [targets.Pattern!],
            _ => [],
        };
        return candidates
            .Select(name => (name, distance: probes.Count == 0 ? 0 : probes.Min(p => Math.Min(Distance(p, Leaf(name)), Distance(p, name)))))
            .OrderBy(c => c.distance)
            .ThenBy(c => c.name, StringComparer.Ordinal)
            .Take(count)
            .Select(c => c.name)
            .ToList();
    }

    private static string Leaf(string name) => name[(name.LastIndexOf('.') + 1)..];

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
