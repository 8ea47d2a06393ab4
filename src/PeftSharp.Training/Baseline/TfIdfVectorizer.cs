using System.Text.RegularExpressions;

namespace PeftSharp.Training.Baseline;

/// <summary>
/// TF-IDF features as scikit-learn's <c>TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)</c>
/// computes them: lower-cased word unigrams and bigrams, <c>1 + log(tf)</c>, smoothed idf
/// <c>log((1 + n) / (1 + df)) + 1</c>, rows scaled to unit length.
/// </summary>
public sealed partial class TfIdfVectorizer
{
    private readonly Dictionary<string, int> _vocabulary;
    private readonly float[] _idf;

    private TfIdfVectorizer(Dictionary<string, int> vocabulary, float[] idf)
    {
        _vocabulary = vocabulary;
        _idf = idf;
    }

    /// <summary>The number of features.</summary>
    public int Features => _idf.Length;

    /// <summary>Learns the vocabulary (terms in at least <paramref name="minDocumentFrequency"/> texts) and idf weights from <paramref name="texts"/>.</summary>
    public static TfIdfVectorizer Fit(IReadOnlyList<string> texts, int minDocumentFrequency = 2)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            foreach (var term in Terms(text).Distinct(StringComparer.Ordinal))
            {
                frequency[term] = frequency.GetValueOrDefault(term) + 1;
            }
        }

        var kept = frequency.Where(p => p.Value >= minDocumentFrequency).Select(p => p.Key).Order(StringComparer.Ordinal).ToList();
        var vocabulary = kept.Select((term, i) => (term, i)).ToDictionary(p => p.term, p => p.i, StringComparer.Ordinal);
        var idf = kept.Select(term => (float)(Math.Log((1.0 + texts.Count) / (1.0 + frequency[term])) + 1.0)).ToArray();
        return new TfIdfVectorizer(vocabulary, idf);
    }

    /// <summary>The unit-length TF-IDF vector of <paramref name="text"/>.</summary>
    public SparseVector Transform(string text)
    {
        var counts = new SortedDictionary<int, int>();
        foreach (var term in Terms(text))
        {
            if (_vocabulary.TryGetValue(term, out var index))
            {
                counts[index] = counts.GetValueOrDefault(index) + 1;
            }
        }

        var indices = counts.Keys.ToArray();
        var values = counts.Select(p => (float)((1.0 + Math.Log(p.Value)) * _idf[p.Key])).ToArray();
        var norm = MathF.Sqrt(values.Sum(v => v * v));
        if (norm > 0)
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] /= norm;
            }
        }

        return new SparseVector(indices, values);
    }

    private static IEnumerable<string> Terms(string text)
    {
        var words = Word().Matches(text.ToLowerInvariant()).Select(m => m.Value).ToList();
        for (var i = 0; i < words.Count; i++)
        {
            yield return words[i];
            if (i + 1 < words.Count)
            {
                yield return words[i] + " " + words[i + 1];
            }
        }
    }

    // scikit-learn's default token pattern: two or more word characters.
    [GeneratedRegex(@"\b\w\w+\b", RegexOptions.CultureInvariant)]
    private static partial Regex Word();
}
