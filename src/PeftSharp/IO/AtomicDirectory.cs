namespace PeftSharp.IO;

/// <summary>
/// Replaces whole directories (checkpoints, saved adapters) so that a crash at any moment leaves
/// either the previous directory or the complete new one, and <see cref="Recover"/> finds it.
/// </summary>
/// <remarks>
/// A replacement writes <c>&lt;path&gt;.tmp</c>, marks it complete, moves the previous directory to
/// <c>&lt;path&gt;.old</c>, moves the new one to <c>&lt;path&gt;</c> and deletes <c>&lt;path&gt;.old</c>.
/// Each step is a rename or a delete, so a process killed between two steps leaves a state that
/// <see cref="Recover"/> turns back into one complete directory: the new one when it was marked
/// complete, otherwise the previous one.
/// </remarks>
public static class AtomicDirectory
{
    private const string CompleteMarker = ".complete";

    /// <summary>
    /// Replaces <paramref name="path"/> with a directory written by <paramref name="write"/> (which
    /// receives the staging directory to fill). On failure the staging directory is deleted, the
    /// previous directory is untouched and the exception propagates.
    /// </summary>
    public static void Replace(string path, Action<string> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var final = Path.GetFullPath(path);
        Recover(final);
        var staging = final + ".tmp";
        try
        {
            Directory.CreateDirectory(staging);
            write(staging);
            File.WriteAllBytes(Path.Combine(staging, CompleteMarker), []);
        }
        catch
        {
            TryDelete(staging);
            throw;
        }

        Swap(final, staging);
    }

    /// <summary>
    /// Puts <paramref name="path"/> back together after a crash during <see cref="Replace"/>: a
    /// staging directory marked complete wins, then the previous directory; an unfinished staging
    /// directory is deleted. Returns whether <paramref name="path"/> exists afterwards.
    /// </summary>
    public static bool Recover(string path)
    {
        var final = Path.GetFullPath(path);
        var staging = final + ".tmp";
        var old = final + ".old";
        var complete = Directory.Exists(staging) && File.Exists(Path.Combine(staging, CompleteMarker));
        if (Directory.Exists(staging) && !complete)
        {
            Directory.Delete(staging, recursive: true);
        }

        if (Directory.Exists(old))
        {
            if (Directory.Exists(final) || complete)
            {
                Directory.Delete(old, recursive: true);
            }
            else
            {
                Directory.Move(old, final);
            }
        }

        if (complete)
        {
            Swap(final, staging);
        }

        return Directory.Exists(final);
    }

    /// <summary>True when <paramref name="path"/> exists or a crash left a copy of it that <see cref="Recover"/> would restore.</summary>
    public static bool Exists(string path)
    {
        var final = Path.GetFullPath(path);
        return Directory.Exists(final) || Directory.Exists(final + ".old") || File.Exists(Path.Combine(final + ".tmp", CompleteMarker));
    }

    /// <summary>Deletes <paramref name="path"/> together with any staging or previous copy a replacement left.</summary>
    public static void Delete(string path)
    {
        var final = Path.GetFullPath(path);
        foreach (var directory in new[] { final, final + ".tmp", final + ".old" })
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private static void Swap(string final, string staging)
    {
        var old = final + ".old";
        if (Directory.Exists(final))
        {
            Directory.Move(final, old);
        }

        Directory.Move(staging, final);
        if (Directory.Exists(old))
        {
            Directory.Delete(old, recursive: true);
        }

        File.Delete(Path.Combine(final, CompleteMarker));
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
