using System.CommandLine;

namespace PeftSharp.Cli;

/// <summary>
/// <c>--config run.json</c>: a JSON object whose keys are a command's option names without the
/// leading dashes (<c>{"method": "sora", "steps": 300, "lr": 0.001}</c>). Its values become command-line
/// options (<c>--name=value</c>, one per array item) unless the command line gives the same option,
/// which wins.
/// </summary>
internal static class RunConfig
{
    /// <summary>The arguments with the run config's options appended (those the command line does not set).</summary>
    /// <exception cref="ConfigFormatException">The file is not JSON, not an object, or names an option the command does not have.</exception>
    public static string[] Expand(RootCommand root, string[] args)
    {
        var at = Array.IndexOf(args, "--config");
        if (at < 0)
        {
            return args;
        }

        if (at + 1 >= args.Length)
        {
            throw new PeftConfigurationException("--config needs a file: --config run.json");
        }

        var path = args[at + 1];
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"run config '{path}' does not exist");
        }

        var rest = args.Take(at).Concat(args.Skip(at + 2)).ToList();
        var command = root.Subcommands.FirstOrDefault(c => rest.Count > 0 && c.Name == rest[0])
            ?? throw new PeftConfigurationException("--config needs a command before it, for example: peft train --config run.json");
        var expanded = Apply(command, rest, ConfigJson.Load(path));
        OptionMessages.SetRunConfig(path, expanded.Skip(rest.Count).Select(a => a.Split('=')[0]).Distinct());
        return expanded;
    }

    /// <summary>
    /// <paramref name="rest"/> (the command line without <c>--config</c>, starting with the command's
    /// name) with the options of <paramref name="json"/> appended that the command line does not set.
    /// </summary>
    /// <exception cref="ConfigFormatException">The run config names an option <paramref name="command"/> does not have, or holds a value that is not a string, number, boolean or an array of them.</exception>
    public static string[] Apply(Command command, IReadOnlyList<string> commandLine, ConfigJson json)
    {
        var path = json.Path;
        var rest = commandLine.ToList();
        foreach (var (key, value) in json.Root)
        {
            var name = "--" + key;
            var option = command.Options.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name))
                ?? throw new ConfigFormatException(path, key, $"is not an option of 'peft {command.Name}' (options: {string.Join(", ", command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != "--help").Select(o => o.Name[2..]))})");
            if (value is null || rest.Contains(option.Name) || option.Aliases.Any(rest.Contains))
            {
                continue;
            }

            // "--name=value" keeps a value that looks like an option ("--help") or a response file ("@x") a value.
            // An empty array adds nothing: the option keeps its default.
            var values = value is JsonArray array ? array.Select(item => Token(path, key, item)) : [Token(path, key, value)];
            rest.AddRange(values.Select(v => $"{option.Name}={v}"));
        }

        return [.. rest];
    }

    private static string Token(string path, string key, JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s.Contains('\0', StringComparison.Ordinal)
            ? throw new ConfigFormatException(path, key, "expected text without NUL characters (a command line cannot hold them)")
            : s,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
        JsonValue v when v.TryGetValue<double>(out var d) => d.ToString("R", CultureInfo.InvariantCulture),
        _ => throw new ConfigFormatException(path, key, $"expected a string, number, boolean or an array of them, got {node?.ToJsonString() ?? "null"}"),
    };
}
