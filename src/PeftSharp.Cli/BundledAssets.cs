using System.CommandLine;

namespace PeftSharp.Cli;

/// <summary>
/// Default paths such as <c>models/base</c> and <c>data/sotu-era</c>: looked up first in the current
/// folder (a clone of the repository), then among the assets the installed tool carries (packed from
/// the repository into <c>assets/</c> beside <c>peft.dll</c>; the list is in PeftSharp.Cli.csproj). A
/// default found in neither is refused in one line that says where to get it.
/// </summary>
internal static class BundledAssets
{
    /// <summary>The folder beside the tool's assembly that holds the bundled assets.</summary>
    public static string Folder { get; } = Path.Combine(AppContext.BaseDirectory, "assets");

    /// <summary>Where to get an asset that is neither here nor bundled, by the start of its path; the first match wins.</summary>
    private static readonly (string Prefix, string Hint)[] Hints =
    [
        (DefaultModels.Classification, $"import it once with `{DefaultModels.ImportCommand}` (scripts/setup.sh does), or pass --base models/base for the small bundled encoder"),
        (string.Empty, "run from a clone of the PeftSharp repository, or install the peft tool, which carries it"),
    ];

    /// <summary>The path of <paramref name="relative"/> (forward slashes) in the current folder, else among the bundled assets, else null.</summary>
    public static string? Find(string relative)
    {
        var local = Path.GetFullPath(relative);
        if (Path.Exists(local))
        {
            return local;
        }

        var bundled = Path.Combine(Folder, relative);
        return Path.Exists(bundled) ? bundled : null;
    }

    /// <summary><see cref="Find"/>'s path, or <paramref name="relative"/> itself when there is none (the command then reports it missing).</summary>
    public static string Resolve(string relative) => Find(relative) ?? relative;

    /// <summary>Defaults <paramref name="option"/> to the asset <paramref name="relative"/>, refusing the default in one line when it is nowhere.</summary>
    public static Option<DirectoryInfo> DefaultAsset(this Option<DirectoryInfo> option, string relative) =>
        DefaultAsset(option, [relative], paths => new DirectoryInfo(paths[0]));

    /// <summary>Defaults <paramref name="option"/> to the asset file <paramref name="relative"/>, refusing the default in one line when it is nowhere.</summary>
    public static Option<FileInfo> DefaultAsset(this Option<FileInfo> option, string relative) =>
        DefaultAsset(option, [relative], paths => new FileInfo(paths[0]));

    /// <summary>Defaults <paramref name="option"/> to the asset files <paramref name="relative"/>, refusing the default in one line when one is nowhere.</summary>
    public static Option<string[]> DefaultAsset(this Option<string[]> option, IReadOnlyList<string> relative) =>
        DefaultAsset(option, relative, paths => [.. paths]);

    /// <summary>The one-line problem of a default <paramref name="relative"/> that is nowhere.</summary>
    public static string Missing(string relative) =>
        $"the default {relative} is neither in the current folder ({Environment.CurrentDirectory}) nor bundled with the tool; {Hints.First(h => relative.StartsWith(h.Prefix, StringComparison.Ordinal)).Hint}";

    private static Option<T> DefaultAsset<T>(Option<T> option, IReadOnlyList<string> relative, Func<IReadOnlyList<string>, T> create)
    {
        option.DefaultValueFactory = _ => create([.. relative.Select(Resolve)]);
        Preflight.Add(option, result =>
            result.Implicit && relative.FirstOrDefault(r => Find(r) is null) is { } missing
                ? OptionMessages.About(option, $"is not given and {Missing(missing)}")
                : null);
        return option;
    }
}
