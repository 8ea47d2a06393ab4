using System.CommandLine;
using System.Diagnostics;
using PeftSharp.Fuzzing;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft fuzz &lt;target&gt; --cases N [--seed S]</c>: hostile-input testing of the parsers.</summary>
internal static class FuzzCommand
{
    public static Command Create()
    {
        var cases = new Option<long>("--cases") { Description = "Number of cases (per target).", DefaultValueFactory = _ => 10_000 }.AtLeast(1L);
        var seed = new Option<int>("--seed") { Description = "Random seed (the cases are a function of it).", DefaultValueFactory = _ => 0 };
        var timeout = new Option<int>("--case-timeout-ms") { Description = "Time bound per case; a slower case counts as a hang.", DefaultValueFactory = _ => 2_000 }.AtLeast(1);
        var saveCase = new Option<long?>("--save-case") { Description = "Instead of a run, write the input of case N of the run with --seed to <target>-case-N.bin and report how it ends." };
        var seedDirs = new Option<DirectoryInfo[]>("--seed-dir") { Description = "hf-tokenizer only: also seed with the tokenizer.json (and tokenizer_config.json) of this model directory (repeatable)." };
        var fuzz = new Command("fuzz", "Hostile-input testing of PeftSharp's parsers.");

        // The library's targets are cheap to create; the run-config target builds the command tree, so it is created when run.
        var targets = FuzzTargets.Create().Select(t => (t.Name, t.Description, Create: (Func<FuzzTarget>)(() => t)))
            .Append((RunConfigFuzzTarget.TargetName, RunConfigFuzzTarget.TargetDescription, () => new RunConfigFuzzTarget()))
            .ToList();
        foreach (var (name, description, create) in targets)
        {
            var command = new Command(name, $"{description}\n\nExample:\n  peft fuzz {name} --cases 1000000 --seed 1") { cases, seed, timeout, saveCase };
            var withSeedDirs = name == HfTokenizerFuzzTarget.TargetName;
            if (withSeedDirs)
            {
                command.Options.Add(seedDirs);
            }

            command.SetAction(result => Program.Guarded(() =>
            {
                var target = withSeedDirs && result.GetValue(seedDirs) is { Length: > 0 } dirs
                    ? new HfTokenizerFuzzTarget(dirs.Select(d => d.FullName).ToList())
                    : create();
                if (result.GetValue(saveCase) is { } index)
                {
                    return SaveCase(target, result.GetValue(seed), index);
                }

                var report = RunOne(target, result.GetValue(cases), result.GetValue(seed), result.GetValue(timeout));
                Console.WriteLine(report.Summary);
                return report.Clean ? Program.Success : Program.UserError;
            }));
            fuzz.Subcommands.Add(command);
        }

        var all = new Command("all", "Run every target in turn.\n\nExample:\n  peft fuzz all --cases 100000 --seed 1") { cases, seed, timeout };
        all.SetAction(result => Program.Guarded(() =>
        {
            var reports = new List<FuzzReport>();
            foreach (var (name, _, create) in targets)
            {
                Console.WriteLine($"{name}:");
                var report = RunOne(create(), result.GetValue(cases), result.GetValue(seed), result.GetValue(timeout));
                Console.WriteLine($"  {report.Summary}");
                reports.Add(report);
            }

            var total = new FuzzReport(
                reports.Sum(r => r.Cases),
                reports.Sum(r => r.Rejected),
                reports.Sum(r => r.Accepted),
                reports.Sum(r => r.UntypedExceptions),
                reports.Sum(r => r.Hangs),
                reports.Sum(r => r.OverAllocations),
                reports.Select(r => r.FirstProblem).FirstOrDefault(p => p is not null));
            Console.WriteLine($"all targets: {total.Summary}");
            return total.Clean ? Program.Success : Program.UserError;
        }));
        fuzz.Subcommands.Add(all);
        return fuzz;
    }

    /// <summary>Writes the input of one case and reports its outcome (to reproduce a problem a run found).</summary>
    private static int SaveCase(FuzzTarget target, int seed, long index)
    {
        var input = FuzzRunner.CaseInput(target, seed, index);
        var path = $"{target.Name}-case-{index}.bin";
        File.WriteAllBytes(path, input);
        var outcome = FuzzRunner.RunCase(target, input, out var problem);
        Console.WriteLine($"{path}: {input.Length} bytes; {outcome}{(problem is null ? string.Empty : $": {problem}")}");
        return outcome is FuzzOutcome.Rejected or FuzzOutcome.Accepted ? Program.Success : Program.UserError;
    }

    /// <summary>Runs one target with a progress bar; prints everything but the summary line.</summary>
    private static FuzzReport RunOne(FuzzTarget target, long count, int seed, int timeoutMs)
    {
        if (count <= 0)
        {
            throw new ArgumentException($"--cases must be positive, got {count}");
        }

        var clock = Stopwatch.StartNew();
        var report = ProgressDisplay.Run((progressFor, log) =>
        {
            var bar = progressFor($"fuzz {target.Name}");
            return FuzzRunner.Run(
                target,
                count,
                seed,
                TimeSpan.FromMilliseconds(timeoutMs),
                done =>
                {
                    var rate = done / clock.Elapsed.TotalSeconds;
                    bar?.Report(new PeftSharp.Training.TrainingProgress((int)Math.Min(done, int.MaxValue), (int)Math.Min(count, int.MaxValue), 0, 0, rate, TimeSpan.FromSeconds((count - done) / rate)));
                    if (done % 100_000 == 0)
                    {
                        log.WriteLine($"  {done} cases ({clock.Elapsed.TotalSeconds:F0} s)");
                    }
                });
        });
        Console.WriteLine($"accepted (valid after mutation): {report.Accepted}; over-allocations: {report.OverAllocations}; {clock.Elapsed.TotalSeconds:F1} s");
        if (report.PeakAllocation is { } peak)
        {
            Console.WriteLine($"allocation: {peak}");
        }

        if (report.FirstProblem is not null)
        {
            Console.WriteLine($"first problem: {report.FirstProblem}");
        }

        foreach (var problem in report.Problems.Skip(1))
        {
            Console.WriteLine($"  also: {problem.Split('\n')[0]}");
        }

        return report;
    }
}
