using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Parsing;

namespace PeftSharp.Cli;

/// <summary>
/// Messages about options in the user's words: the option as typed (<c>--steps</c>), or the key and
/// file of the run config (<c>--config</c>) that set it, never a .NET property or type name.
/// </summary>
internal static class OptionMessages
{
    private static IReadOnlyDictionary<string, string> s_fromRunConfig = new Dictionary<string, string>();

    /// <summary>Records which options (by name, <c>--steps</c>) the run config <paramref name="path"/> set, so messages about them name its key and file.</summary>
    public static void SetRunConfig(string path, IEnumerable<string> options) =>
        s_fromRunConfig = options.ToDictionary(o => o, _ => path, StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="problem"/> said of <paramref name="option"/>: <c>--steps must be at least 1, got 0</c>,
    /// or <c>run.json: field 'steps': must be at least 1, got 0</c> when the run config set it.
    /// </summary>
    public static string About(Option option, string problem) =>
        s_fromRunConfig.TryGetValue(option.Name, out var file)
            ? $"{file}: field '{option.Name.TrimStart('-')}': {problem}"
            : $"{option.Name} {problem}";

    /// <summary>Refuses, while parsing, a value of <paramref name="option"/> below <paramref name="minimum"/> (for settings the CLI owns; a library options object checks its own).</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, T minimum)
        where T : struct, IComparable<T>
    {
        option.Validators.Add(result =>
        {
            T value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                // A token that is no T at all: the parser reports that conversion error itself.
                return;
            }

            if (value.CompareTo(minimum) < 0)
            {
                result.AddError(About(option, string.Create(CultureInfo.InvariantCulture, $"must be at least {minimum}, got {value}")));
            }
        });
        return option;
    }

    /// <summary>A one-line error about <paramref name="option"/> (exit code 1).</summary>
    public static PeftConfigurationException Error(Option option, string problem) => new(About(option, problem));

    /// <summary>
    /// Runs <paramref name="validate"/> (a library options object's check) and reports a setting it
    /// refuses as the option that set it; <paramref name="options"/> maps property names
    /// (<c>MaxSteps</c>) to options (<c>--steps</c>). A setting no option sets keeps the library's message.
    /// </summary>
    public static void Check(Action validate, params (string Setting, Option Option)[] options)
    {
        try
        {
            validate();
        }
        catch (PeftConfigurationException e) when (e.Setting is { } setting && Find(options, setting) is { } option)
        {
            throw new PeftConfigurationException(About(option, e.Problem!), e);
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName is { } setting && Find(options, setting) is { } option)
        {
            var problem = WithoutParameter(e);
            throw new PeftConfigurationException(About(option, e.ActualValue is { } value ? $"{problem}, got {Convert.ToString(value, CultureInfo.InvariantCulture)}" : problem), e);
        }
    }

    /// <summary>The message of <paramref name="e"/> without .NET's <c>(Parameter 'x')</c> and <c>Actual value was …</c> suffixes.</summary>
    public static string WithoutParameter(ArgumentException e)
    {
        var message = e.Message;
        if (e.ParamName is { } name)
        {
            var suffix = message.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal);
            if (suffix >= 0)
            {
                message = message[..suffix];
            }
        }

        return message;
    }

    /// <summary>
    /// The parse errors of <paramref name="result"/> as one-line messages: an unknown command or option
    /// says so (with the nearest known name), a value that does not convert says what was expected
    /// (<c>--steps: 'abc' is not a whole number</c>) instead of the .NET type. <c>Usage</c> is true when
    /// the command line itself is malformed (unknown or missing names), which the command's help answers.
    /// </summary>
    public static (IReadOnlyList<string> Messages, bool Usage) ParseErrors(ParseResult result)
    {
        var messages = new List<string>();
        var unmatched = result.UnmatchedTokens;
        var command = result.CommandResult.Command;
        foreach (var token in unmatched)
        {
            messages.Add(Unknown(command, token, result.RootCommandResult.Command));
        }

        var reported = new HashSet<Option>();
        var missing = command.Options.Where(o => o.Required && result.GetResult(o) is not OptionResult { IdentifierToken: not null }).ToList();
        messages.AddRange(missing.Select(o => About(o, "is required")));
        var missingArguments = command.Arguments.Where(a => a.Arity.MinimumNumberOfValues > 0 && result.GetResult(a) is not ArgumentResult { Tokens.Count: > 0 }).ToList();
        messages.AddRange(missingArguments.Select(a => $"'peft {command.Name}' needs its {a.Name} argument: peft {command.Name} <{a.Name}> …"));
        var usage = messages.Count > 0;
        foreach (var error in result.Errors)
        {
            var option = error.SymbolResult switch
            {
                OptionResult o => o.Option,
                ArgumentResult { Parent: OptionResult o } => o.Option,
                _ => null,
            };
            if (option is not null && missing.Contains(option))
            {
                continue;
            }

            if (option is not null && error.SymbolResult is { } symbol && Unconvertible(option, symbol) is { } problem)
            {
                if (reported.Add(option))
                {
                    messages.Add(problem);
                }

                continue;
            }

            if (error.SymbolResult is CommandResult { Command: var parent } && parent.Subcommands.Count > 0)
            {
                // A command that only groups others: an unknown one was reported above, else none was given.
                if (unmatched.Count == 0)
                {
                    var path = parent is RootCommand ? "peft" : $"peft {parent.Name}";
                    messages.Add($"no command given: {path} <command> ({string.Join(", ", parent.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))})");
                    usage = true;
                }

                continue;
            }

            if (error.SymbolResult is CommandResult && unmatched.Concat(missing.Select(o => o.Name)).Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal)))
            {
                continue;
            }

            if (missingArguments.Count > 0 && error.SymbolResult is CommandResult or ArgumentResult && error.Message.Contains($"'{command.Name}'", StringComparison.Ordinal))
            {
                continue;
            }

            if (option is not null && error.SymbolResult is OptionResult { Tokens.Count: 0, Implicit: false })
            {
                messages.Add(About(option, "needs a value"));
                usage = true;
                continue;
            }

            messages.Add(error.Message.ReplaceLineEndings(" ").Replace("\t", string.Empty, StringComparison.Ordinal));
        }

        return (messages, usage);
    }

    private static Option? Find((string Setting, Option Option)[] options, string setting) =>
        options.FirstOrDefault(o => string.Equals(o.Setting, setting, StringComparison.Ordinal)).Option;

    private static string Unknown(Command command, string token, Command root)
    {
        if (command.Subcommands.Count > 0 && !token.StartsWith('-'))
        {
            var known = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
            return $"unknown command '{token}'{(command == root ? string.Empty : $" for 'peft {command.Name}'")}{Suggestion(token, known)}";
        }

        var names = command.Options.Where(o => !o.Hidden).Select(o => o.Name).Concat(command.Subcommands.Select(c => c.Name)).ToList();
        var name = token.Split('=')[0];
        return token.StartsWith('-')
            ? $"unknown option '{name}' for 'peft {command.Name}'{Suggestion(name, names)}"
            : $"unexpected argument '{token}' for 'peft {command.Name}'";
    }

    /// <summary>" (did you mean 'train'?)" for the known name nearest to <paramref name="token"/>, if one is near.</summary>
    private static string Suggestion(string token, IReadOnlyList<string> known)
    {
        var nearest = known.Select(k => (Name: k, Distance: Distance(token, k))).OrderBy(k => k.Distance).FirstOrDefault();
        return nearest.Name is not null && nearest.Distance <= Math.Max(1, token.Length / 3) ? $"; did you mean '{nearest.Name}'?" : string.Empty;
    }

    /// <summary>Optimal string alignment distance (Levenshtein with adjacent transpositions, so <c>trian</c> is 1 from <c>train</c>).</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>The message for the first token of <paramref name="symbol"/> that is not a value of <paramref name="option"/>'s type or choices, or null.</summary>
    private static string? Unconvertible(Option option, SymbolResult symbol)
    {
        var type = option.ValueType.IsArray ? option.ValueType.GetElementType()! : option.ValueType;
        type = Nullable.GetUnderlyingType(type) ?? type;
        var choices = Choices(option, type);
        foreach (var token in symbol.Tokens.Where(t => t.Type == TokenType.Argument))
        {
            var value = token.Value;
            if (choices.Count > 0 && !choices.Contains(value, StringComparer.OrdinalIgnoreCase))
            {
                return Colon(option, $"'{value}' is not one of {string.Join(", ", choices)}");
            }

            if (Expected(type, value) is { } expected)
            {
                return Colon(option, $"'{value}' is not {expected}");
            }
        }

        return null;
    }

    /// <summary><c>--steps: problem</c> (a value problem reads better after a colon), or the run config's key and file.</summary>
    private static string Colon(Option option, string problem) =>
        s_fromRunConfig.ContainsKey(option.Name) ? About(option, problem) : $"{option.Name}: {problem}";

    /// <summary>The values an option accepts when it lists them (an enum's names, <c>AcceptOnlyFromAmong</c>), else none.</summary>
    private static List<string> Choices(Option option, Type type)
    {
        if (type.IsEnum)
        {
            return [.. Enum.GetNames(type)];
        }

        if (type != typeof(string))
        {
            return [];
        }

        // AcceptOnlyFromAmong also makes the values the option's completions.
        return [.. option.GetCompletions(CompletionContext.Empty).Select(c => c.Label)];
    }

    /// <summary>What <paramref name="value"/> should have been for <paramref name="type"/> (<c>a whole number</c>), or null when it converts.</summary>
    private static string? Expected(Type type, string value)
    {
        var invariant = CultureInfo.InvariantCulture;
        return type switch
        {
            _ when type == typeof(int) => int.TryParse(value, NumberStyles.Integer, invariant, out _) ? null : "a whole number",
            _ when type == typeof(long) => long.TryParse(value, NumberStyles.Integer, invariant, out _) ? null : "a whole number",
            _ when type == typeof(ulong) => ulong.TryParse(value, NumberStyles.Integer, invariant, out _) ? null : "a whole number ≥ 0",
            _ when type == typeof(uint) => uint.TryParse(value, NumberStyles.Integer, invariant, out _) ? null : "a whole number ≥ 0",
            _ when type == typeof(double) || type == typeof(float) => double.TryParse(value, NumberStyles.Float, invariant, out _) ? null : "a number",
            _ when type == typeof(bool) => bool.TryParse(value, out _) ? null : "true or false",
            _ => null,
        };
    }
}
