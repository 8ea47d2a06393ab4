using System.CommandLine;
using System.Diagnostics;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft demo</c>: fine-tunes the imported MiniLM (by default) on a bundled task with every adapter
/// method that can train, after the TF-IDF + logistic-regression baseline on the same splits; prints a
/// table and writes a Markdown report with plots. The defaults (64 steps of 8 examples, 48 tokens,
/// one validation after the last step, 128 validation and test examples) fit the classification
/// part into its share of the demo's time budget; docs/benchmarks.md records what they cost.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = $"Base model directory (default: the imported MiniLM, {DefaultModels.Classification})." }.DefaultAsset(DefaultModels.Classification);
        var data = new Option<DirectoryInfo>("--data") { Description = "Task directory with train/validation/test.jsonl." }.DefaultAsset("data/sotu-era");
        var output = new Option<DirectoryInfo>("--output") { Description = "Report folder.", DefaultValueFactory = _ => new DirectoryInfo("runs/demo") }.Folder();
        var json = new Option<FileInfo?>("--json") { Description = "Also write the table as a JSON array to this file." }.File();
        var epochs = new Option<int>("--epochs") { Description = "Epochs per method.", DefaultValueFactory = _ => 2 };
        var maxLength = new Option<int>("--max-length") { Description = "Tokens per example (longer texts are cut).", DefaultValueFactory = _ => 48 };
        var batchSize = new Option<int>("--batch-size") { Description = "Examples per optimizer step.", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps per method (0: train --epochs epochs instead).", DefaultValueFactory = _ => 64 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate (and keep the best adapter) every N steps (0: every epoch and after the last step).", DefaultValueFactory = _ => 0 };
        var trainLimit = new Option<int?>("--train-limit") { Description = "Use only the first N training examples." };
        var evalLimit = new Option<int>("--eval-limit") { Description = "Use only the first N validation and test examples, for the baseline too (0: all).", DefaultValueFactory = _ => 128 };
        var methods = new Option<string[]?>("--methods") { Description = "Methods to run (default: every method that can train).", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "libtorch intra-op threads (more only pays on an otherwise idle machine; see docs/benchmarks.md).", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var generative = new GenerativeDemo();
        var command = new Command("demo", "Fine-tune the imported MiniLM (or --base) on a bundled task with every adapter method, after a TF-IDF + logistic-regression baseline, and the bundled decoder on g2p with every method (--task); print the tables and write a report.\n\nExamples:\n  peft demo --output runs/demo --json runs/demo/table.json\n  peft demo --task g2p")
        {
            baseDir, data, output, json, epochs, maxLength, batchSize, steps, evalEvery, trainLimit, evalLimit, methods, seed, threads,
        };
        generative.AddTo(command);
        command.SetAction(result => Program.Guarded(() =>
        {
            var clock = Stopwatch.StartNew();
            TorchSharp.torch.set_num_threads(result.GetValue(threads));
            if (!generative.RunsClassification(result))
            {
                var g2pReport = generative.Run(result, result.GetValue(output)!.FullName, result.GetValue(seed), result.GetValue(methods), result.GetValue(json), append: false);
                Console.WriteLine($"report: {g2pReport} ({clock.Elapsed.TotalSeconds:F0} s)");
                return Program.Success;
            }

            if (result.GetValue(steps) < 0)
            {
                throw OptionMessages.Error(steps, $"must be ≥ 0 (0: train --epochs epochs), got {result.GetValue(steps)}");
            }

            var options = new TrainerOptions
            {
                Epochs = result.GetValue(epochs),
                MaxSteps = result.GetValue(steps) is > 0 and var n ? n : null,
                EvalEvery = result.GetValue(evalEvery),
                BatchSize = result.GetValue(batchSize),
                LearningRate = 1e-3,
                HeadLearningRate = 1e-3,
                MaxLength = result.GetValue(maxLength),
                Seed = result.GetValue(seed),
                LogEvery = 25,
            };
            OptionMessages.Check(options.Validate, (nameof(options.Epochs), epochs), (nameof(options.MaxSteps), steps), (nameof(options.EvalEvery), evalEvery), (nameof(options.MaxLength), maxLength));
            var rows = ProgressDisplay.Run((progressFor, log) => DemoRunner.Run(
                result.GetValue(baseDir)!.FullName,
                result.GetValue(data)!.FullName,
                result.GetValue(output)!.FullName,
                options,
                log,
                result.GetValue(trainLimit),
                result.GetValue(evalLimit) is > 0 and var limit ? limit : null,
                result.GetValue(methods),
                progressFor));
            Console.WriteLine();
            Console.Write(DemoRunner.Table(rows));
            if (result.GetValue(json) is { } file)
            {
                AtomicFile.WriteAllText(file.FullName, DemoRunner.ToJson(rows).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            }

            var report = Reports.RunReport.WriteDemo(result.GetValue(output)!.FullName, rows, Path.GetFileName(result.GetValue(data)!.FullName.TrimEnd('/')), options);
            if (generative.RunsGenerative(result))
            {
                report = generative.Run(result, result.GetValue(output)!.FullName, result.GetValue(seed), result.GetValue(methods), json: null, append: true);
            }

            Console.WriteLine($"report: {report} ({clock.Elapsed.TotalSeconds:F0} s)");
            return Program.Success;
        }));
        return command;
    }
}
