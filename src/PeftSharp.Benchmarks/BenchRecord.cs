using System.Diagnostics;

namespace PeftSharp.Benchmarks;

/// <summary>One measured figure: ratios are plain numbers; <see cref="Target"/> is the bound from the issue (≤ unless <see cref="AtLeast"/>).</summary>
public sealed record BenchRecord(string Name, double Value, string Unit, double? Target = null, bool AtLeast = false, string? Detail = null)
{
    /// <summary>Whether the target holds (null without a target).</summary>
    public bool? Met => Target is { } t ? (AtLeast ? Value >= t : Value <= t) : null;

    /// <summary>The record as <c>{"name","value","unit","target","met"}</c> (plus <c>detail</c> when set).</summary>
    public JsonObject ToJson() => new()
    {
        ["name"] = Name,
        ["value"] = Value,
        ["unit"] = Unit,
        ["target"] = Target,
        ["met"] = Met,
        ["detail"] = Detail,
    };

    /// <summary>A line for people: name, value, target and verdict.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Value:G4} {Unit}{(Target is { } t ? $" (target {(AtLeast ? "≥" : "≤")} {t:G4}: {(Met == true ? "met" : "NOT met")})" : string.Empty)}{(Detail is null ? string.Empty : $"; {Detail}")}");
}

/// <summary>Side-by-side timing: the two variants alternate in rounds (A,B then B,A, …); the ratio is of their median round times.</summary>
public static class SideBySide
{
    /// <summary>Returns (median A / median B, median A ms, median B ms) over <paramref name="rounds"/> rounds of <paramref name="iterations"/> calls each, after <paramref name="warmup"/> warm-up calls of each.</summary>
    public static (double Ratio, double A, double B) Compare(int rounds, int iterations, Action a, Action b, int warmup = 3)
    {
        for (var i = 0; i < warmup; i++)
        {
            a();
            b();
        }

        var timesA = new List<double>();
        var timesB = new List<double>();
        var clock = new Stopwatch();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (action, times) in round % 2 == 0 ? new[] { (a, timesA), (b, timesB) } : [(b, timesB), (a, timesA)])
            {
                clock.Restart();
                for (var i = 0; i < iterations; i++)
                {
                    action();
                }

                times.Add(clock.Elapsed.TotalMilliseconds / iterations);
            }
        }

        var medianA = Median(timesA);
        var medianB = Median(timesB);
        return (medianA / medianB, medianA, medianB);
    }

    /// <summary>
    /// Runs <paramref name="steps"/> in turn, round after round, until the process stops taking fresh pages:
    /// <paramref name="quietRounds"/> rounds in a row each fault fewer than <paramref name="quietFaults"/> new
    /// pages in (Linux's minor page faults), or <paramref name="maximum"/> rounds. A training step's heap grows
    /// over its first steps (at the SmolLM2 shape about a dozen, in two spurts, each step faulting in hundreds of megabytes); a
    /// long run spends its time in the steady state after it, which is what a step benchmark times. Elsewhere
    /// than Linux it runs <paramref name="quietRounds"/> rounds. Returns the rounds run.
    /// </summary>
    public static int WarmUntilSteady(IReadOnlyList<Action> steps, int quietRounds = 3, long quietFaults = 1000, int maximum = 20)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var quiet = 0;
        var round = 0;
        while (round < maximum && quiet < quietRounds)
        {
            var before = MinorFaults();
            foreach (var step in steps)
            {
                step();
            }

            round++;
            quiet = before is { } start && MinorFaults() is { } end && end - start >= quietFaults ? 0 : quiet + 1;
        }

        return round;
    }

    /// <summary>The process's minor page faults so far (<c>/proc/self/stat</c>), or null where that file is not.</summary>
    public static long? MinorFaults()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // Fields after the command name, which is in parentheses and may hold spaces: state is the first, minflt the eighth.
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }

    /// <summary>The median of <paramref name="values"/>.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>Machine facts for reports.</summary>
    public static string Machine() =>
        $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, torch threads {TorchSharp.torch.get_num_threads()}";

    /// <summary>The repository root (the folder holding models/base and data/), searched upwards from <paramref name="start"/> and the app folder.</summary>
    public static string FindRepository(string? start = null)
    {
        foreach (var origin in new[] { start ?? Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(origin); dir is not null; dir = dir.Parent)
            {
                if (Directory.Exists(Path.Combine(dir.FullName, "models", "base")) && Directory.Exists(Path.Combine(dir.FullName, "data")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException("models/base and data/ not found: run from inside the repository or pass --root");
    }
}
