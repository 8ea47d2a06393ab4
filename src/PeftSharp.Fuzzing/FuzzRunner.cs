using System.Diagnostics;

namespace PeftSharp.Fuzzing;

/// <summary>How one fuzz case ended.</summary>
public enum FuzzOutcome
{
    /// <summary>Rejected with a typed error.</summary>
    Rejected,

    /// <summary>Parsed and used without error.</summary>
    Accepted,

    /// <summary>Threw an exception that is not a typed error (a bug).</summary>
    Untyped,

    /// <summary>Allocated more than the target's bound, or held more native bytes than the input (a bug).</summary>
    OverAllocation,
}

/// <summary>
/// Runs a <see cref="FuzzTarget"/>: each case is a random input, a generic mutation of a seed or a
/// structural mutation of a seed, chosen by a generator seeded with the run's seed (so a run is
/// reproducible). A watchdog bounds every case's time; the managed allocation of every case is
/// measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/> and checked against the target's
/// bound.
/// </summary>
public static class FuzzRunner
{
    /// <summary>Progress is reported every this many cases.</summary>
    public const int ProgressInterval = 10_000;

    /// <summary>How many problems a report lists.</summary>
    public const int MaxProblems = 10;

    /// <summary>
    /// Runs <paramref name="cases"/> cases of <paramref name="target"/>; each must finish within
    /// <paramref name="caseTimeLimit"/>. A case that does not stops the run (its thread cannot be
    /// aborted) and is reported as a hang.
    /// </summary>
    /// <exception cref="ArgumentException">A seed of the target is not accepted.</exception>
    public static FuzzReport Run(FuzzTarget target, long cases, int seed, TimeSpan caseTimeLimit, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegative(cases);
        var random = new Random(seed);
        var seeds = target.CreateSeeds(seed);
        WarmUp(target, seeds);

        long done = 0, rejected = 0, accepted = 0, untyped = 0, over = 0;
        string? first = null;
        var problems = new List<string>();
        var peak = new PeakTracker(target);
        long caseStarted = Stopwatch.GetTimestamp();
        var finished = false;
        var worker = new Thread(() =>
        {
            for (long i = 0; i < cases; i++)
            {
                var input = NextCase(target, seeds, random);
                Volatile.Write(ref caseStarted, Stopwatch.GetTimestamp());
                switch (RunCase(target, input, i, peak, out var problem))
                {
                    case FuzzOutcome.Rejected:
                        rejected++;
                        break;
                    case FuzzOutcome.Accepted:
                        accepted++;
                        break;
                    case FuzzOutcome.Untyped:
                        untyped++;
                        first ??= problem;
                        break;
                    case FuzzOutcome.OverAllocation:
                        over++;
                        first ??= problem;
                        break;
                }

                if (problem is not null && problems.Count < MaxProblems)
                {
                    lock (problems)
                    {
                        problems.Add(problem);
                    }
                }

                Volatile.Write(ref done, i + 1);
                if (progress is not null && (i + 1) % ProgressInterval == 0)
                {
                    progress(i + 1);
                }
            }

            Volatile.Write(ref finished, true);
        })
        { IsBackground = true, Name = $"{target.Name}-fuzz" };
        worker.Start();

        while (!worker.Join(50))
        {
            var elapsed = Stopwatch.GetElapsedTime(Volatile.Read(ref caseStarted));
            if (!Volatile.Read(ref finished) && elapsed > caseTimeLimit)
            {
                var at = Volatile.Read(ref done);
                return new FuzzReport(at + 1, rejected, accepted, untyped, 1, over, first ?? $"{target.Name} case {at} ran longer than {caseTimeLimit.TotalMilliseconds} ms")
                {
                    PeakAllocation = peak.Result(),
                    Problems = Snapshot(problems),
                };
            }
        }

        return new FuzzReport(done, rejected, accepted, untyped, 0, over, first) { PeakAllocation = peak.Result(), Problems = Snapshot(problems) };
    }

    private static List<string> Snapshot(List<string> problems)
    {
        lock (problems)
        {
            return [.. problems];
        }
    }

    /// <summary>
    /// Runs one input through <paramref name="target"/> and classifies how it ended (for tests and for
    /// reproducing a case).
    /// </summary>
    public static FuzzOutcome RunCase(FuzzTarget target, byte[] input, out string? problem) =>
        RunCase(target, input, 0, new PeakTracker(target), out problem);

    /// <summary>The input of case <paramref name="index"/> of a run of <paramref name="target"/> with <paramref name="seed"/>, to reproduce a reported problem.</summary>
    public static byte[] CaseInput(FuzzTarget target, int seed, long index)
    {
        ArgumentNullException.ThrowIfNull(target);
        var random = new Random(seed);
        var seeds = target.CreateSeeds(seed);
        for (long i = 0; i < index; i++)
        {
            _ = NextCase(target, seeds, random);
        }

        return NextCase(target, seeds, random);
    }

    private static void WarmUp(FuzzTarget target, IReadOnlyList<byte[]> seeds)
    {
        for (var i = 0; i < seeds.Count; i++)
        {
            try
            {
                target.ParseAndUse(seeds[i]);
            }
            catch (Exception e)
            {
                throw new ArgumentException($"seed {i} of fuzz target '{target.Name}' is not accepted: {e.GetType().Name}: {e.Message}", nameof(target), e);
            }
        }
    }

    private static byte[] NextCase(FuzzTarget target, IReadOnlyList<byte[]> seeds, Random random)
    {
        var seed = seeds[random.Next(seeds.Count)];
        return random.Next(10) switch
        {
            0 => target.RandomInput(random),
            < 5 => FuzzMutators.Mutate(seed, random, seeds),
            _ => target.MutateStructurally(seed, random, seeds),
        };
    }

    private static FuzzOutcome RunCase(FuzzTarget target, byte[] input, long index, PeakTracker peak, out string? problem)
    {
        problem = null;
        FuzzOutcome outcome;
        long nativeBytes = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            nativeBytes = target.ParseAndUse(input);
            outcome = FuzzOutcome.Accepted;
        }
        catch (Exception e) when (target.IsTyped(e))
        {
            outcome = FuzzOutcome.Rejected;
        }
        catch (Exception e)
        {
            var message = e.Message.Length > 300 ? e.Message[..300] + "…" : e.Message;
            problem = $"{target.Name} case {index}: {e.GetType().Name}: {message}";
            return FuzzOutcome.Untyped;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var bound = target.AllocationBound(input.Length);
        peak.Add(allocated, input.Length, bound);
        if (allocated > bound)
        {
            problem = $"{target.Name} case {index}: allocated {allocated} bytes for a {input.Length}-byte input (bound {target.AllocationBoundText} = {bound})";
            return FuzzOutcome.OverAllocation;
        }

        if (nativeBytes > input.Length)
        {
            problem = $"{target.Name} case {index}: holds {nativeBytes} bytes of parsed data for a {input.Length}-byte input";
            return FuzzOutcome.OverAllocation;
        }

        return outcome;
    }

    /// <summary>Tracks the case closest to the allocation bound (only the worker thread writes it).</summary>
    private sealed class PeakTracker(FuzzTarget target)
    {
        private double _share = -1;
        private long _allocated;
        private int _input;
        private double _perByte;

        public void Add(long allocated, int inputLength, long bound)
        {
            var share = (double)allocated / bound;
            if (share > _share)
            {
                _share = share;
                _allocated = allocated;
                _input = inputLength;
            }

            if (inputLength >= FuzzAllocationPeak.LargeInputBytes)
            {
                _perByte = Math.Max(_perByte, (double)allocated / inputLength);
            }
        }

        public FuzzAllocationPeak? Result() =>
            _share < 0 ? null : new FuzzAllocationPeak(target.AllocationBoundText, _share, _allocated, _input, _perByte);
    }
}
