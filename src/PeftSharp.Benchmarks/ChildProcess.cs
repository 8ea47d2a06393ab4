using System.Diagnostics;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Measurements taken in a child process of the running program (peak RSS is per process): the command
/// that starts this program again, running it, and the kernel's memory counters of the current process.
/// </summary>
public static class ChildProcess
{
    /// <summary>
    /// The command that starts the running program (its apphost, or <c>dotnet program.dll</c>) with
    /// <paramref name="arguments"/>.
    /// </summary>
    public static IReadOnlyList<string> Command(params string[] arguments)
    {
        var host = Environment.ProcessPath ?? throw new IOException("the path of the running program is unknown");
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? [host, Environment.GetCommandLineArgs()[0], .. arguments]
            : [host, .. arguments];
    }

    /// <summary>
    /// Runs <paramref name="command"/> followed by <paramref name="arguments"/> and returns the last line of
    /// its standard output that starts with <paramref name="prefix"/>, without the prefix.
    /// </summary>
    /// <exception cref="IOException">The child could not start or printed no such line (the message carries its exit code and output).</exception>
    public static string RunForLine(IReadOnlyList<string> command, IEnumerable<string> arguments, string prefix)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(arguments);
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Skip(1).Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new IOException($"could not start {command[0]}");
        var errors = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new IOException($"the child {string.Join(' ', info.ArgumentList)} printed no '{prefix}' line (exit {process.ExitCode}): {output} {errors.Result}");
        return line[prefix.Length..].Trim();
    }

    /// <summary>A field of <c>/proc/self/status</c> in bytes (Linux): <c>VmRSS</c> (resident now) or <c>VmHWM</c> (peak resident).</summary>
    public static long StatusBytes(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>
    /// Resets this process's peak resident set (<c>VmHWM</c>) to its current RSS (Linux ≥ 4.0: <c>5</c> into
    /// <c>/proc/self/clear_refs</c>); false when the kernel refuses, and the peak then counts from the start.
    /// </summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
