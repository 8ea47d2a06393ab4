using PeftSharp.IO;

namespace PeftSharp.Fuzzing;

/// <summary>
/// Feeds <see cref="SafetensorsFile"/> mutated valid files and random bytes (the
/// <see cref="SafetensorsFuzzTarget"/> run by <see cref="FuzzRunner"/>). A case must either be
/// rejected with <see cref="SafetensorsFormatException"/> or parse with every tensor readable; it
/// must finish within the time bound, allocate within the target's managed bound, and hold no more
/// than its input's size for header and tensor data.
/// </summary>
public sealed class SafetensorsFuzzer
{
    private readonly int _seed;

    /// <summary>Creates a fuzzer whose cases are a deterministic function of <paramref name="seed"/>.</summary>
    public SafetensorsFuzzer(int seed) => _seed = seed;

    /// <summary>Runs <paramref name="cases"/> cases; each must finish within <paramref name="caseTimeLimit"/>.</summary>
    public FuzzReport Run(long cases, TimeSpan caseTimeLimit, Action<long>? progress = null) =>
        FuzzRunner.Run(new SafetensorsFuzzTarget(), cases, _seed, caseTimeLimit, progress);
}
