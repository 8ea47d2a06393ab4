namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>Edit distances between sequences.</summary>
public static class EditDistance
{
    /// <summary>
    /// The Levenshtein distance: the fewest insertions, deletions and substitutions (each costing 1)
    /// that turn <paramref name="source"/> into <paramref name="target"/>, elements compared with the
    /// default equality. Two rows of the dynamic-programming table, O(|source|·|target|) time.
    /// </summary>
    public static int Levenshtein<T>(IReadOnlyList<T> source, IReadOnlyList<T> target)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        var comparer = EqualityComparer<T>.Default;
        var previous = new int[target.Count + 1];
        var current = new int[target.Count + 1];
        for (var j = 0; j <= target.Count; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= source.Count; i++)
        {
            current[0] = i;
            for (var j = 1; j <= target.Count; j++)
            {
                var substitution = previous[j - 1] + (comparer.Equals(source[i - 1], target[j - 1]) ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[target.Count];
    }
}
