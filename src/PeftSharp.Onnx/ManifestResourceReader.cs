using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace PeftSharp.Onnx;

/// <summary>
/// Reads the embedded manifest resources of a .NET assembly file with
/// <see cref="System.Reflection.Metadata"/>, without loading the assembly as code.
/// </summary>
public static class ManifestResourceReader
{
    /// <summary>The names of the resources embedded in the assembly at <paramref name="assemblyPath"/>.</summary>
    /// <exception cref="OnnxFormatException">The file is not a readable .NET assembly.</exception>
    public static IReadOnlyList<string> Names(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = Open(stream, assemblyPath);
        var metadata = Metadata(pe, assemblyPath);
        return metadata.ManifestResources.Select(h => metadata.GetString(metadata.GetManifestResource(h).Name)).ToList();
    }

    /// <summary>
    /// The bytes of the embedded resource whose name is <paramref name="resourceName"/> or ends with
    /// <c>.</c> + <paramref name="resourceName"/>.
    /// </summary>
    /// <exception cref="OnnxFormatException">The file is not a .NET assembly, or holds no such embedded resource, or the resource lies outside the file.</exception>
    public static byte[] Read(string assemblyPath, string resourceName)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = Open(stream, assemblyPath);
        var metadata = Metadata(pe, assemblyPath);
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            var name = metadata.GetString(resource.Name);
            if (name != resourceName && !name.EndsWith("." + resourceName, StringComparison.Ordinal))
            {
                continue;
            }

            if (!resource.Implementation.IsNil)
            {
                throw new OnnxFormatException($"{assemblyPath}: resource '{name}' is not embedded in the assembly (it points to another file)");
            }

            return ReadEmbedded(pe, assemblyPath, name, resource.Offset);
        }

        throw new OnnxFormatException($"{assemblyPath}: no embedded resource named '{resourceName}' (found: {string.Join(", ", metadata.ManifestResources.Select(h => metadata.GetString(metadata.GetManifestResource(h).Name)))})");
    }

    private static PEReader Open(Stream stream, string path)
    {
        try
        {
            return new PEReader(stream, PEStreamOptions.PrefetchEntireImage);
        }
        catch (BadImageFormatException e)
        {
            throw new OnnxFormatException($"{path}: not a .NET assembly: {e.Message}", e);
        }
    }

    private static MetadataReader Metadata(PEReader pe, string path)
    {
        try
        {
            return pe.HasMetadata ? pe.GetMetadataReader() : throw new OnnxFormatException($"{path}: not a .NET assembly (no metadata)");
        }
        catch (BadImageFormatException e)
        {
            throw new OnnxFormatException($"{path}: not a .NET assembly: {e.Message}", e);
        }
    }

    private static byte[] ReadEmbedded(PEReader pe, string path, string name, long offset)
    {
        var directory = pe.PEHeaders.CorHeader?.ResourcesDirectory ?? default;
        if (directory.Size <= 0)
        {
            throw new OnnxFormatException($"{path}: the assembly has no resource section for '{name}'");
        }

        var section = pe.GetSectionData(directory.RelativeVirtualAddress);
        var available = Math.Min(section.Length, directory.Size);
        if (offset < 0 || offset > available - sizeof(int))
        {
            throw new OnnxFormatException($"{path}: resource '{name}' starts at offset {offset}, outside the {available}-byte resource section");
        }

        var reader = section.GetReader((int)offset, available - (int)offset);
        var length = reader.ReadInt32();
        if (length < 0 || length > reader.RemainingBytes)
        {
            throw new OnnxFormatException($"{path}: resource '{name}' claims {length} bytes but only {reader.RemainingBytes} remain in the resource section");
        }

        return reader.ReadBytes(length);
    }
}
