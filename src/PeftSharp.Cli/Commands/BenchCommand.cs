using System.CommandLine;
using System.Diagnostics;
using PeftSharp.Benchmarks;
using PeftSharp.Cli.Reports;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft bench</c>: every speed and quality claim measured side by side in one run.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "The quick suite (under 10 minutes on 2 cores): 4-layer shapes, fewer rounds, the quality protocol at 3 seeds and a short budget, a 1,000-step memory run." };
        var seeds = new Option<int?>("--seeds") { Description = "Seeds per configuration of the suites that repeat runs over seeds: the quality protocol and rank recovery (default 5, quick 3; at least 2)." };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the records as a JSON array of {\"name\", \"value\", \"unit\", \"target\", \"met\"}." }.File();
        var output = new Option<DirectoryInfo>("--output") { Description = "Folder for runs, report.md, the quality claims' plots (claim-*.png) and frontier.png.", DefaultValueFactory = _ => new DirectoryInfo("runs/bench") }.Folder();
        var only = new Option<string[]?>("--only") { Description = $"Suites to run: {string.Join(", ", BenchSuite.Suites)}.", AllowMultipleArgumentsPerToken = true };
        var loadChild = new Option<DirectoryInfo?>(LoadBench.ChildSwitch) { Description = "Internal: load this checkpoint folder in bf16 and print the load time and peak RSS (the load suite's child).", Hidden = true };
        var decoderMemoryChild = new Option<string?>(DecoderMemoryBench.ChildSwitch) { Description = "Internal: run this decoder step spec (JSON) and print its peak RSS and step times (the decoder-memory suite's child).", Hidden = true };
        var root = new Option<DirectoryInfo?>("--root") { Description = "Repository root with models/base and data/ (default: found from the current folder)." };
        var command = new Command("bench", "Measure PeftSharp's speed and quality claims side by side (ratios, with the issue's targets).\n\nExamples:\n  peft bench --quick --json runs/bench/quick.json\n  peft bench --only methods engine\n  peft bench --only quality --seeds 5 --json runs/bench/quality.json")
        {
            quick, seeds, json, output, only, root, loadChild, decoderMemoryChild,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            if (result.GetValue(loadChild) is { } checkpoint)
            {
                LoadBench.Child(checkpoint.FullName, Console.Out);
                return Program.Success;
            }

            if (result.GetValue(decoderMemoryChild) is { } spec)
            {
                DecoderMemoryBench.Child(spec, Console.Out);
                return Program.Success;
            }

            if (result.GetValue(seeds) is < 2 and var few)
            {
                throw OptionMessages.Error(seeds, string.Create(CultureInfo.InvariantCulture, $"must be at least 2 (a confidence interval needs two seeds), got {few}"));
            }

            var clock = Stopwatch.StartNew();
            var outputDir = result.GetValue(output)!.FullName;
            Directory.CreateDirectory(outputDir);
            var suites = result.GetValue(only) is { Length: > 0 } chosen ? chosen : null;
            var options = new BenchOptions(result.GetValue(quick), result.GetValue(root)?.FullName ?? SideBySide.FindRepository(), outputDir, suites, result.GetValue(seeds));
            var (records, quality, failures) = ProgressDisplay.Run((progressFor, log) => BenchSuite.Run(options, ProgressDisplay.Interactive ? Console.Out : log, progressFor));
            var array = new JsonArray([.. records.Select(r => (JsonNode?)r.ToJson())]);
            if (result.GetValue(json) is { } file)
            {
                AtomicFile.WriteAllText(file.FullName, array.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            }

            var report = new StringBuilder();
            report.AppendLine(CultureInfo.InvariantCulture, $"# peft bench ({(options.Quick ? "quick" : "full")})");
            report.AppendLine();
            report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {SideBySide.Machine()}; {clock.Elapsed.TotalMinutes:F1} min.");
            report.AppendLine();
            report.AppendLine("| figure | value | unit | target | met | detail |");
            report.AppendLine("|---|---|---|---|---|---|");
            foreach (var r in records)
            {
                report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Value:0.###} | {r.Unit} | {(r.Target is { } t ? (r.AtLeast ? "≥ " : "≤ ") + t.ToString("0.###", CultureInfo.InvariantCulture) : "–")} | {(r.Met is { } m ? (m ? "yes" : "**no**") : "–")} | {r.Detail} |"));
            }

            if (quality is not null)
            {
                report.AppendLine();
                foreach (var plot in QualityPlots.Write(outputDir, quality))
                {
                    report.AppendLine(CultureInfo.InvariantCulture, $"![{plot}]({plot})");
                }
            }

            foreach (var failure in failures)
            {
                report.AppendLine();
                report.AppendLine(CultureInfo.InvariantCulture, $"Suite failed: {failure}");
            }

            AtomicFile.WriteAllText(Path.Combine(outputDir, "report.md"), report.ToString());
            Console.WriteLine();
            records.ForEach(r => Console.WriteLine(r));
            failures.ForEach(f => Console.Error.WriteLine($"error: suite {f}"));
            Console.WriteLine($"{records.Count(r => r.Met == true)} of {records.Count(r => r.Met is not null)} targets met; report: {Path.Combine(outputDir, "report.md")} ({clock.Elapsed.TotalMinutes:F1} min)");
            return failures.Count == 0 ? Program.Success : Program.UserError;
        }));
        return command;
    }
}
