using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.CompilerServices;

namespace PeftSharp.Cli;

/// <summary>
/// Checks of what an option's value needs from the machine (an output that can be written, a default
/// asset that exists), run after the command line parsed and before the command starts: nothing is
/// loaded when one fails, and parsing itself stays free of file-system work (the run-config fuzz
/// target parses millions of command lines).
/// </summary>
internal static class Preflight
{
    private static readonly ConditionalWeakTable<Option, List<Func<OptionResult, string?>>> s_checks = [];

    /// <summary>Adds <paramref name="check"/> (the problem with the option's value, or null) to <paramref name="option"/>.</summary>
    public static void Add(Option option, Func<OptionResult, string?> check) =>
        s_checks.GetOrCreateValue(option).Add(check);

    /// <summary>The problems of the parsed command's options, in option order (none when the command line asks for help instead of the command).</summary>
    public static IReadOnlyList<string> Problems(ParseResult result)
    {
        var problems = new List<string>();
        if (result.Action is null || result.Action != result.CommandResult.Command.Action)
        {
            return problems;
        }

        foreach (var option in result.CommandResult.Command.Options)
        {
            if (s_checks.TryGetValue(option, out var checks) && result.GetResult(option) is { } value)
            {
                problems.AddRange(checks.Select(check => check(value)).OfType<string>());
            }
        }

        return problems;
    }
}
