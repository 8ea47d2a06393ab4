using System.Globalization;
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

        var results = new List<T>();
        var scratch = Directory.CreateTempSubdirectory("peft-eval-ranks-");
        try
        {
            for (var rank = from; rank <= to; rank++)
            {
                var cut = Path.Combine(scratch.FullName, rank.ToString(CultureInfo.InvariantCulture));
                source.ExportPlainLora(cut, maxRanks: source.AdaptedModules.ToDictionary(m => m.Name, _ => rank));
                results.Add(score(rank, cut));
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
