using System.Diagnostics;

namespace PeftSharp.Runtime;

/// <summary>
/// A few dedicated threads that help the calling thread through one job cut into chunks. The caller posts
/// the job and claims chunks itself; workers claim the rest. A worker that is late (asleep, or preempted by
/// another process) claims nothing once the caller has taken every chunk, so the caller never waits for a
/// worker that has not started. A decoding step posts a few hundred jobs of tens of microseconds each, so
/// workers spin briefly between jobs (waking a blocked thread costs as much as a small job) and block after
/// <see cref="SpinTicks"/> (100 µs) idle, so an idle process does not burn a core. One caller at a
/// time: <see cref="TryRun"/> returns false when another thread holds the workers.
/// </summary>
internal sealed class RowWorkers
{
    /// <summary>How long an idle worker spins before it blocks: longer than the gaps between a decoding step's matmuls.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000;

    private static readonly Dictionary<int, RowWorkers> Pools = [];

    /// <summary>While positive, idle workers keep spinning instead of blocking (see <see cref="HoldHot"/>).</summary>
    private static int _holdHot;

    private readonly object _gate = new();
    private readonly object _callers = new();
    private readonly int _workers;
    private Action<int, int>? _job;
    private int _chunks;
    private int _generation;
    private int _done;
    private int _sleepers;

    /// <summary>The next chunk to claim: the job's generation in the upper 32 bits, the chunk index in the lower.</summary>
    private long _ticket;

    private RowWorkers(int workers)
    {
        _workers = workers;
        for (var i = 0; i < workers; i++)
        {
            new Thread(Loop) { IsBackground = true, Name = $"PeftSharp row worker {i + 1}" }.Start();
        }
    }

    /// <summary>
    /// Until the result is disposed, idle workers spin instead of blocking, so every job of a run of jobs finds
    /// them awake (a blocked worker wakes tens of microseconds after the post, by when the caller has done its
    /// own share and waits). For a span in which the workers' cores are otherwise unused: a decoding loop
    /// holding libtorch at one thread.
    /// </summary>
    public static IDisposable HoldHot()
    {
        Interlocked.Increment(ref _holdHot);
        return new HotHold();
    }

    private sealed class HotHold : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Decrement(ref _holdHot);
            }
        }
    }

    /// <summary>How many threads can work on a job, the caller included.</summary>
    public int Threads => _workers + 1;

    /// <summary>The process's workers for <paramref name="threads"/> threads in all (the caller and threads − 1 workers), or null for one thread.</summary>
    public static RowWorkers? For(int threads)
    {
        if (threads < 2)
        {
            return null;
        }

        lock (Pools)
        {
            if (!Pools.TryGetValue(threads, out var pool))
            {
                pool = new RowWorkers(threads - 1);
                Pools[threads] = pool;
            }

            return pool;
        }
    }

    /// <summary>
    /// Runs <paramref name="job"/>(chunk, chunks) once for every chunk in <c>[0, chunks)</c>, on this thread and
    /// the workers, and returns when all are done; false (nothing run) when another caller holds the workers.
    /// </summary>
    public bool TryRun(Action<int, int> job, int chunks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunks);
        if (!Monitor.TryEnter(_callers))
        {
            return false;
        }

        try
        {
            _job = job;
            _chunks = chunks;
            _done = 0;
            var generation = ++_generation == 0 ? ++_generation : _generation;
            Interlocked.Exchange(ref _ticket, (long)generation << 32);
            if (Volatile.Read(ref _sleepers) > 0)
            {
                lock (_gate)
                {
                    Monitor.PulseAll(_gate);
                }
            }

            Work(generation);
            var spinner = default(SpinWait);
            while (Volatile.Read(ref _done) != chunks)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            _job = null;
            return true;
        }
        finally
        {
            Monitor.Exit(_callers);
        }
    }

    /// <summary>Claims and runs chunks of job <paramref name="generation"/> until none is left.</summary>
    private void Work(int generation)
    {
        while (true)
        {
            var ticket = Volatile.Read(ref _ticket);
            if ((int)(ticket >> 32) != generation)
            {
                return;
            }

            var chunk = (int)(ticket & uint.MaxValue);
            var chunks = Volatile.Read(ref _chunks);
            if (chunk >= chunks)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket)
            {
                continue;
            }

            // The claimed chunk keeps the job in place: the caller waits for it before posting another.
            _job!(chunk, chunks);
            Interlocked.Increment(ref _done);
        }
    }

    private void Loop()
    {
        var seen = 0;
        while (true)
        {
            var idleSince = Stopwatch.GetTimestamp();
            while ((int)(Volatile.Read(ref _ticket) >> 32) == seen)
            {
                if (Volatile.Read(ref _holdHot) > 0 || Stopwatch.GetTimestamp() - idleSince < SpinTicks)
                {
                    Thread.SpinWait(1);
                    continue;
                }

                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers);
                    while ((int)(Volatile.Read(ref _ticket) >> 32) == seen)
                    {
                        Monitor.Wait(_gate);
                    }

                    Interlocked.Decrement(ref _sleepers);
                }
            }

            seen = (int)(Volatile.Read(ref _ticket) >> 32);
            Work(seen);
        }
    }
}
