using System.CommandLine;
using System.CommandLine.Parsing;

namespace PeftSharp.Cli;

/// <summary>
/// Output options (<c>--output</c>, <c>--json</c>) checked before the command runs (<see cref="Preflight"/>), so a path
/// that cannot be written is refused before anything is loaded or trained: a file where a folder is
/// expected (or the reverse), a parent that is a file, a folder that refuses new files.
/// </summary>
internal static class OutputPaths
{
    /// <summary>Makes <paramref name="option"/> an output folder: it is checked, when it has a value, before the command runs.</summary>
    public static Option<T> Folder<T>(this Option<T> option)
        where T : FileSystemInfo?
    {
        Preflight.Add(option, result => Check(result, result.GetValueOrDefault<T>(), folder: true));
        return option;
    }

    /// <summary>Makes <paramref name="option"/> an output file: it is checked, when it has a value, before the command runs.</summary>
    public static Option<T> File<T>(this Option<T> option)
        where T : FileSystemInfo?
    {
        Preflight.Add(option, result => Check(result, result.GetValueOrDefault<T>(), folder: false));
        return option;
    }

    /// <summary>Why <paramref name="path"/> cannot be written as a folder (<paramref name="folder"/>) or a file, or null when it can.</summary>
    public static string? Problem(string path, bool folder)
    {
        var full = Path.GetFullPath(path);
        if (folder ? System.IO.File.Exists(full) : Directory.Exists(full))
        {
            return folder ? "it is a file, not a folder" : "it is a folder, not a file";
        }

        // The nearest existing ancestor (the folder itself when it exists) must be a folder that takes new files.
        var existing = folder ? full : Path.GetDirectoryName(full)!;
        while (!Directory.Exists(existing))
        {
            if (System.IO.File.Exists(existing))
            {
                return $"'{existing}' is a file, not a folder";
            }

            existing = Path.GetDirectoryName(existing)!;
        }

        // A probe file, gone when closed: permissions, read-only file systems and ACLs all show here.
        var probe = Path.Combine(existing, $".peft-write-check-{Guid.NewGuid():N}");
        try
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return $"'{existing}' does not take new files (permission denied)";
        }
        catch (IOException e)
        {
            return $"'{existing}' does not take new files ({e.Message.Replace(probe, existing, StringComparison.Ordinal).TrimEnd('.')})";
        }
    }

    private static string? Check(OptionResult result, FileSystemInfo? value, bool folder) =>
        value is not null && Problem(value.FullName, folder) is { } problem
            ? OptionMessages.About(result.Option, $"cannot be written: {value.FullName}: {problem}")
            : null;
}
