namespace PeftSharp.Fuzzing;

/// <summary>Totals of a fuzz run.</summary>
/// <param name="Cases">Cases run.</param>
/// <param name="Rejected">Cases rejected with a typed error.</param>
/// <param name="Accepted">Cases that parsed and whose result was used without error.</param>
/// <param name="UntypedExceptions">Cases that threw anything else (a bug).</param>
/// <param name="Hangs">Cases that exceeded the per-case time bound (a bug).</param>
/// <param name="OverAllocations">Cases whose allocations exceeded the target's bound (a bug).</param>
/// <param name="FirstProblem">Description of the first bug found, or null.</param>
public sealed record FuzzReport(long Cases, long Rejected, long Accepted, long UntypedExceptions, long Hangs, long OverAllocations, string? FirstProblem)
{
    /// <summary>The first problems found (at most <see cref="FuzzRunner.MaxProblems"/>), one line each.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>The case that came closest to the allocation bound, or null when no case ran.</summary>
    public FuzzAllocationPeak? PeakAllocation { get; init; }

    /// <summary>True when no case revealed a bug.</summary>
    public bool Clean => UntypedExceptions == 0 && Hangs == 0 && OverAllocations == 0;

    /// <summary><c>N cases, K rejected with typed errors, 0 untyped exceptions, 0 hangs</c></summary>
    public string Summary => $"{Cases} cases, {Rejected} rejected with typed errors, {UntypedExceptions} untyped exceptions, {Hangs} hangs";
}

/// <summary>The managed allocation of a fuzz run's heaviest case relative to its bound.</summary>
/// <param name="Bound">The target's bound as text (<c>64 × input + 1 MiB</c>).</param>
/// <param name="ShareOfBound">The largest allocation ÷ bound over all cases (above 1 is an over-allocation).</param>
/// <param name="AllocatedBytes">What that case allocated.</param>
/// <param name="InputBytes">That case's input size.</param>
/// <param name="BytesPerInputByte">The largest allocation ÷ input size over cases of at least <see cref="LargeInputBytes"/> bytes (where fixed costs no longer dominate); 0 when there were none.</param>
public sealed record FuzzAllocationPeak(string Bound, double ShareOfBound, long AllocatedBytes, int InputBytes, double BytesPerInputByte)
{
    /// <summary>Inputs at least this large count for <see cref="BytesPerInputByte"/>.</summary>
    public const int LargeInputBytes = 4096;

    /// <summary><c>peak allocation 12.5% of the bound 64 × input + 1 MiB (131072 bytes for a 512-byte input); at most 9.1 bytes per input byte for inputs ≥ 4 KiB</c></summary>
    public override string ToString() =>
        FormattableString.Invariant($"peak allocation {ShareOfBound:P1} of the bound {Bound} ({AllocatedBytes} bytes for a {InputBytes}-byte input); at most {BytesPerInputByte:F1} bytes per input byte for inputs ≥ 4 KiB");
}
