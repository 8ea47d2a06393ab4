using static TorchSharp.torch;

namespace PeftSharp.IO;

/// <summary>
/// A Hugging Face checkpoint in safetensors form: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (<c>{"metadata": {...}, "weight_map": {name: shard}}</c>).
/// Tensors are read one at a time.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    /// <summary>The single-file name Hugging Face uses.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The index name Hugging Face uses for sharded checkpoints.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _owners;
    private readonly List<SafetensorsFile> _files;

    private SafetensorsCheckpoint(string path, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owners)
    {
        Path = path;
        _files = files;
        _owners = owners;
    }

    /// <summary>The file or index the checkpoint was opened from.</summary>
    public string Path { get; }

    /// <summary>Every tensor name, in file order.</summary>
    public IReadOnlyCollection<string> Names => _owners.Keys;

    /// <summary>The shard files.</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>
    /// Opens <paramref name="path"/>: a directory (its index if present, else its
    /// <c>model.safetensors</c>), an index JSON file, or a single safetensors file.
    /// </summary>
    /// <exception cref="SafetensorsFormatException">A file or the index is malformed or inconsistent.</exception>
    /// <exception cref="FileNotFoundException">No checkpoint is there.</exception>
    public static SafetensorsCheckpoint Open(string path)
    {
        if (Directory.Exists(path))
        {
            var index = System.IO.Path.Combine(path, IndexFileName);
            var single = System.IO.Path.Combine(path, SingleFileName);
            path = File.Exists(index) ? index
                : File.Exists(single) ? single
                : throw new FileNotFoundException($"{path}: no {IndexFileName} or {SingleFileName} in this directory", single);
        }

        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return OpenIndex(path);
        }

        var file = SafetensorsFile.Open(path);
        return new SafetensorsCheckpoint(path, [file], file.Entries.ToDictionary(e => e.Name, _ => file, StringComparer.Ordinal));
    }

    /// <summary>True when the checkpoint has a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _owners.ContainsKey(name);

    /// <summary>Where tensor <paramref name="name"/> is stored (dtype, shape).</summary>
    public SafetensorsEntry Entry(string name) =>
        _owners.TryGetValue(name, out var file) ? file.Entries.First(e => e.Name == name) : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads tensor <paramref name="name"/> into <paramref name="target"/> (see <see cref="SafetensorsFile.ReadInto"/>).</summary>
    public void ReadInto(string name, Tensor target)
    {
        if (!_owners.TryGetValue(name, out var file))
        {
            throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");
        }

        file.ReadInto(name, target);
    }

    /// <summary>Reads tensor <paramref name="name"/> (CPU, stored dtype). The caller owns it.</summary>
    public Tensor Read(string name) =>
        _owners.TryGetValue(name, out var file) ? file.Read(name) : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }
    }

    private static SafetensorsCheckpoint OpenIndex(string indexPath)
    {
        var bytes = File.ReadAllBytes(indexPath);
        Dictionary<string, string> weightMap;
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind != JsonValueKind.Object ||
                !document.RootElement.TryGetProperty("weight_map", out var map) ||
                map.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsFormatException(indexPath, "the index has no \"weight_map\" object");
            }

            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in map.EnumerateObject())
            {
                if (item.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafetensorsFormatException(indexPath, $"weight_map['{item.Name}'] is a JSON {item.Value.ValueKind}, expected a shard file name");
                }

                var shard = item.Value.GetString()!;
                if (shard.Length == 0 || shard != System.IO.Path.GetFileName(shard) || shard is "." or "..")
                {
                    throw new SafetensorsFormatException(indexPath, $"weight_map['{item.Name}'] = '{shard}' is not a file name in the index's directory");
                }

                if (!weightMap.TryAdd(item.Name, shard))
                {
                    throw new SafetensorsFormatException(indexPath, $"weight_map names '{item.Name}' twice");
                }
            }
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(indexPath, $"the index is not valid JSON ({JsonErrorText.Describe(e)})", e);
        }

        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var owners = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.Values.Distinct(StringComparer.Ordinal))
            {
                var shardPath = System.IO.Path.Combine(directory, shard);
                if (!File.Exists(shardPath))
                {
                    throw new SafetensorsFormatException(indexPath, $"shard '{shard}' named by the index does not exist");
                }

                files[shard] = SafetensorsFile.Open(shardPath);
            }

            foreach (var (name, shard) in weightMap)
            {
                var file = files[shard];
                if (!file.Contains(name))
                {
                    throw new SafetensorsFormatException(indexPath, $"the index puts '{name}' in '{shard}', which has no such tensor");
                }

                owners.Add(name, file);
            }
        }
        catch
        {
            foreach (var file in files.Values)
            {
                file.Dispose();
            }

            throw;
        }

        return new SafetensorsCheckpoint(indexPath, files.Values.ToList(), owners);
    }
}
