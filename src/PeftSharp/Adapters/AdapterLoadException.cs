namespace PeftSharp.Adapters;

/// <summary>Adapter weights that do not fit the model: missing, unexpected or mis-shaped tensors, listed by name.</summary>
public sealed class AdapterLoadException : PeftException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public AdapterLoadException(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapeMismatches)
        : base(Describe(path, missing, unexpected, shapeMismatches))
    {
        FilePath = path;
        MissingKeys = missing;
        UnexpectedKeys = unexpected;
        ShapeMismatches = shapeMismatches;
    }

    /// <summary>Creates the exception with a plain message.</summary>
    public AdapterLoadException(string path, string message) : base($"{path}: {message}")
    {
        FilePath = path;
        MissingKeys = [];
        UnexpectedKeys = [];
        ShapeMismatches = [];
    }

    /// <summary>The weights file.</summary>
    public string FilePath { get; }

    /// <summary>Keys the model expects that the file lacks.</summary>
    public IReadOnlyList<string> MissingKeys { get; }

    /// <summary>Keys in the file that belong to nothing in the model.</summary>
    public IReadOnlyList<string> UnexpectedKeys { get; }

    /// <summary><c>key: file [a, b] vs model [c, d]</c> for every shape that differs.</summary>
    public IReadOnlyList<string> ShapeMismatches { get; }

    /// <summary>One message listing the first 10 of each kind of problem and their counts.</summary>
    public static string Describe(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapeMismatches)
    {
        var parts = new List<string>();
        void Add(string what, IReadOnlyList<string> names)
        {
            if (names.Count > 0)
            {
                var more = names.Count > 10 ? $", … ({names.Count - 10} more)" : string.Empty;
                parts.Add($"{names.Count} {what}: {string.Join(", ", names.Take(10))}{more}");
            }
        }

        Add("shape mismatch(es)", shapeMismatches);
        Add("missing key(s)", missing);
        Add("unexpected key(s)", unexpected);
        return $"{path}: the adapter weights do not fit the model: {string.Join("; ", parts)}";
    }
}
