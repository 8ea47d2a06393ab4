using System.CommandLine;
using System.Diagnostics;
using PeftSharp.IO;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft fuzz safetensors --cases N [--seed S]</c>: hostile-input testing of the parsers.</summary>
internal static class FuzzCommand
{
    public static Command Create()
    {
        var cases = new Option<long>("--cases") { Description = "Number of cases.", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (the cases are a function of it).", DefaultValueFactory = _ => 0 };
        var timeout = new Option<int>("--case-timeout-ms") { Description = "Time bound per case; a slower case counts as a hang.", DefaultValueFactory = _ => 2_000 };
        var safetensors = new Command("safetensors", "Feed the safetensors reader mutated valid files and random bytes.\n\nExample:\n  peft fuzz safetensors --cases 1000000 --seed 1")
        {
            cases,
            seed,
            timeout,
        };
        safetensors.SetAction(result => Program.Guarded(() =>
        {
            var count = result.GetValue(cases);
            if (count <= 0)
            {
                throw new ArgumentException($"--cases must be positive, got {count}");
            }

            var clock = Stopwatch.StartNew();
            var report = ProgressDisplay.Run((progressFor, log) =>
            {
                var bar = progressFor("fuzz safetensors");
                return new SafetensorsFuzzer(result.GetValue(seed)).Run(
                    count,
                    TimeSpan.FromMilliseconds(result.GetValue(timeout)),
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
            if (report.FirstProblem is not null)
            {
                Console.WriteLine($"first problem: {report.FirstProblem}");
            }

            Console.WriteLine(report.Summary);
            return report.Clean ? Program.Success : Program.UserError;
        }));
        return new Command("fuzz", "Hostile-input testing of PeftSharp's parsers.") { safetensors };
    }
}
