using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;

namespace PeftSharp.Training;

/// <summary>
/// An adapter evaluated at every rank of a range without retraining: each cut is the adapter exported
/// as a plain LoRA capped at that rank (DyLoRA: its prefix at that rank; other methods: their largest
/// singular values), written to a scratch folder the caller loads and scores. This is what
/// <c>peft eval --ranks</c> runs for every task.
/// </summary>
public static class RankCuts
{
    /// <summary>
    /// Scores <paramref name="source"/>'s active adapter cut to each rank from <paramref name="from"/>
    /// to <paramref name="to"/>: <paramref name="score"/> gets the rank and the folder of the cut (a PEFT
    /// adapter, deleted afterwards).
    /// </summary>
    /// <exception cref="ArgumentException">The range is empty or goes beyond the adapter's largest rank.</exception>
    public static List<T> Score<T>(PeftModel source, int from, int to, Func<int, string, T> score)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(score);
        var largest = source.AdaptedModules.Max(m => m.Layer.GetPath(source.ActiveAdapter).Rank);
        if (from < 1 || to < from)
        {
            throw new ArgumentException($"a rank range must look like 1..8, got {from}..{to}");
        }

        if (to > largest)
        {
            throw new ArgumentException($"--ranks {from}..{to} goes beyond the adapter's largest rank ({largest}); use --ranks {from}..{Math.Max(from, largest)}");
        }

        return Cuts(source, Enumerable.Range(from, to - from + 1), rank => source.AdaptedModules.ToDictionary(m => m.Name, _ => rank), score);
    }

    /// <summary>
    /// Scores <paramref name="source"/>'s active adapter exported at each fraction of its parameters (the
    /// budget dial of <c>peft export --budget</c>): the budget is the fraction of the parameters the adapter
    /// has as a compact plain LoRA at its effective ranks (<see cref="RankBudget.Parameters"/>), and
    /// <see cref="RankBudget.Allocate"/> keeps its most important components within it. <paramref name="score"/>
    /// gets the fraction and the folder of the cut (a PEFT adapter, deleted afterwards).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A fraction is not in (0, 1].</exception>
    /// <exception cref="PeftConfigurationException">A budget cannot hold a single component.</exception>
    public static List<T> ScoreBudgets<T>(PeftModel source, IReadOnlyList<double> fractions, Func<double, string, T> score)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(fractions);
        ArgumentNullException.ThrowIfNull(score);
        foreach (var fraction in fractions)
        {
            if (!(fraction > 0 && fraction <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(fractions), fraction, "a budget fraction must be in (0, 1]");
            }
        }

        var whole = RankBudget.Parameters(source, source.GetEffectiveRanks());
        return Cuts(source, fractions, fraction => RankBudget.Allocate(source, (long)Math.Floor(fraction * whole)), score);
    }

    /// <summary>Exports <paramref name="source"/> capped at each key's ranks into a scratch folder and scores each cut there.</summary>
    private static List<T> Cuts<TKey, T>(PeftModel source, IEnumerable<TKey> keys, Func<TKey, Dictionary<string, int>> caps, Func<TKey, string, T> score)
    {
        var results = new List<T>();
        var scratch = Directory.CreateTempSubdirectory("peft-eval-ranks-");
        try
        {
            var index = 0;
            foreach (var key in keys)
            {
                var cut = Path.Combine(scratch.FullName, (index++).ToString(CultureInfo.InvariantCulture));
                source.ExportPlainLora(cut, maxRanks: caps(key));
                results.Add(score(key, cut));
            }
        }
        finally
        {
            scratch.Delete(recursive: true);
        }

        return results;
    }

    /// <summary>Parses a range such as <c>1..8</c>.</summary>
    /// <exception cref="ArgumentException">The text is not a range of ranks ≥ 1.</exception>
    public static (int From, int To) ParseRange(string range)
    {
        ArgumentNullException.ThrowIfNull(range);
        var parts = range.Split("..");
        if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var from) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var to) && from >= 1 && to >= from)
        {
            return (from, to);
        }

        throw new ArgumentException($"--ranks must look like 1..8, got '{range}'");
    }
}
