using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft train</c> and <c>peft eval</c>: fine-tune an adapter on a classification task and evaluate it.</summary>
internal static class TrainCommand
{
    public static Command CreateTrain()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "Base model directory." }.DefaultAsset("models/base");
        var data = new Option<DirectoryInfo>("--data") { Description = "Task directory with train.jsonl and validation.jsonl (test.jsonl optional)." }.DefaultAsset("data/sotu-era");
        var method = new Option<string>("--method") { Description = "Adapter method (lora, ...).", DefaultValueFactory = _ => "lora" };
        var config = new Option<FileInfo?>("--adapter-config") { Description = "adapter_config.json to use instead of the method's recommended configuration." };
        var output = new Option<DirectoryInfo>("--output") { Description = "Run folder (metrics.jsonl, best/, checkpoint/).", DefaultValueFactory = _ => new DirectoryInfo("runs/train") }.Folder();
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 3, Description = "Epochs." };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (overrides --epochs)." };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 1e-3, Description = "Peak learning rate." };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 16, Description = "Examples per micro-batch." };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1, Description = "Micro-batches per optimizer step." };
        var schedule = new Option<LearningRateSchedule>("--schedule") { DefaultValueFactory = _ => LearningRateSchedule.Linear, Description = "Linear, Cosine or Constant after warm-up." };
        var evalEvery = new Option<int>("--eval-every") { DefaultValueFactory = _ => 0, Description = "Evaluate every N steps (0: every epoch)." };
        var patience = new Option<int?>("--early-stopping") { Description = "Stop after N evaluations without improvement." };
        var metric = new Option<string>("--metric") { DefaultValueFactory = _ => "accuracy", Description = "accuracy, macro_f1 or mcc." };
        metric.AcceptOnlyFromAmong([.. SequenceClassificationTask.ClassificationMetrics]);
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "Random seed." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --output." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Start a new run in an --output that holds an earlier run's checkpoint (which is replaced)." };
        var saveEvery = new Option<int>("--save-every") { DefaultValueFactory = _ => 0, Description = "Save the resume checkpoint every N steps, besides after every evaluation (0: only after evaluations)." };
        var maxLength = new Option<int>("--max-length") { DefaultValueFactory = _ => 128, Description = "Tokens per example (longer texts are truncated)." };
        var command = new Command("train", "Fine-tune an adapter on a text-classification task.\nCtrl-C stops after the current step, saves a checkpoint and exits with code 130; continue with --resume.\n\nExample:\n  peft train --base models/base --data data/spam --method lora --output runs/spam")
        {
            baseDir, data, method, config, output, epochs, steps, lr, batch, accumulation, schedule, evalEvery, saveEvery, maxLength, patience, metric, seed, resume, overwrite,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var options = new TrainerOptions
            {
                Epochs = result.GetValue(epochs), MaxSteps = result.GetValue(steps), LearningRate = result.GetValue(lr), HeadLearningRate = result.GetValue(lr),
                BatchSize = result.GetValue(batch), GradientAccumulation = result.GetValue(accumulation), Schedule = result.GetValue(schedule),
                EvalEvery = result.GetValue(evalEvery), EarlyStoppingPatience = result.GetValue(patience), Metric = result.GetValue(metric)!,
                Seed = result.GetValue(seed), OutputDirectory = result.GetValue(output)!.FullName, LogEvery = 25,
                SaveEvery = result.GetValue(saveEvery), MaxLength = result.GetValue(maxLength),
            };
            OptionMessages.Check(
                options.Validate,
                (nameof(options.Epochs), epochs), (nameof(options.MaxSteps), steps), (nameof(options.LearningRate), lr), (nameof(options.HeadLearningRate), lr),
                (nameof(options.BatchSize), batch), (nameof(options.GradientAccumulation), accumulation), (nameof(options.EvalEvery), evalEvery),
                (nameof(options.EarlyStoppingPatience), patience), (nameof(options.SaveEvery), saveEvery), (nameof(options.MaxLength), maxLength), (nameof(options.Metric), metric));
            if (!result.GetValue(resume) && !result.GetValue(overwrite) && AtomicDirectory.Exists(Path.Combine(options.OutputDirectory, "checkpoint")))
            {
                throw new PeftConfigurationException($"{options.OutputDirectory} holds the checkpoint of an earlier run: pass --resume to continue it, --overwrite to start again in this folder, or choose another --output");
            }

            // Everything read from the user's files is checked before the model loads.
            var dataDir = result.GetValue(data)!.FullName;
            var train = ClassificationDataset.Load(Path.Combine(dataDir, "train.jsonl"));
            var validation = ClassificationDataset.Load(Path.Combine(dataDir, "validation.jsonl"), labels: train.Labels);
            var info = AdapterMethodRegistry.Find(result.GetValue(method)!) ?? throw OptionMessages.Error(method, $"'{result.GetValue(method)}' is not a method ({string.Join(", ", AdapterMethodRegistry.All.Select(m => m.Name))})");
            var adapterConfig = result.GetValue(config) is { } file
                ? AdapterConfigFile.Read(file.FullName)
                : info.CreateTrainingConfig(options.TotalSteps(train.Examples.Count)) ?? throw new PeftConfigurationException($"method '{info.Name}' cannot train yet");
            TorchSharp.torch.manual_seed(options.Seed);
            var model = PretrainedModel.ForSequenceClassification(result.GetValue(baseDir)!.FullName, train.Labels, out _);
            if (result.GetValue(config) is null)
            {
                model.UseOwnTargetNames(adapterConfig);
            }

            adapterConfig.InferenceMode = false;
            var peft = PeftModel.Create(model, adapterConfig);
            Console.WriteLine(peft.GetParameterReport());
            var tokenizer = TextTokenizer.TryLoad(result.GetValue(baseDir)!.FullName) ?? throw new PeftException("the base model directory has no tokenizer");
            Trainer trainer;
            TrainResult run;
            // Ctrl-C (SIGINT) stops at the next step boundary with a checkpoint; a second Ctrl-C quits at once.
            using var interrupt = new CancellationTokenSource();
            using (PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
            {
                if (!interrupt.IsCancellationRequested)
                {
                    context.Cancel = true;
                    Console.Error.WriteLine("interrupt: stopping after this step to save a checkpoint (Ctrl-C again quits without saving)");
                    interrupt.Cancel();
                }
            }))
            {
                try
                {
                    (trainer, run) = ProgressDisplay.Run((progressFor, log) =>
                    {
                        var t = new Trainer(model, peft, tokenizer, options, log, progressFor(info.Name));
                        return (t, t.Train(train, validation, result.GetValue(resume), interrupt.Token));
                    });
                }
                catch (TrainingCanceledException e)
                {
                    Console.WriteLine(e.CheckpointDirectory is { } checkpoint
                        ? $"interrupted after step {e.Step}: checkpoint saved in {checkpoint}; run the same command with --resume to continue"
                        : $"interrupted after step {e.Step}: no checkpoint was saved; run the same command again to start over");
                    return Program.Interrupted;
                }
            }

            if (run.Best is { } best)
            {
                Console.WriteLine($"best validation {options.Metric}: {best.Get(options.Metric):F4} at step {best.Step}");
            }
            var testPath = Path.Combine(dataDir, "test.jsonl");
            EvaluationResult? test = null;
            if (File.Exists(testPath))
            {
                if (run.Best is not null)
                {
                    trainer = Trainer.ForSavedAdapter(result.GetValue(baseDir)!.FullName, Path.Combine(options.OutputDirectory, "best"), train.Labels, tokenizer, options);
                }

                test = ProgressDisplay.Run((progressFor, _) => trainer.Evaluate(ClassificationDataset.Load(testPath, labels: train.Labels), progressFor("test")));
                Console.WriteLine($"test: accuracy {test.Accuracy:P2}, macro-F1 {test.MacroF1:F4}, MCC {test.Mcc:F4}");
            }

            var report = Reports.RunReport.WriteTrain(options.OutputDirectory, info.Name, AdapterConfigFile.ToJson(adapterConfig), dataDir, options, run, test);
            Console.WriteLine($"report: {report}");
            Console.WriteLine($"best adapter: {Path.Combine(options.OutputDirectory, "best")}");
            return Program.Success;
        }));
        return command;
    }

    public static Command CreateEval()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "Base model directory." }.DefaultAsset("models/base");
        var adapter = new Option<DirectoryInfo>("--adapter") { Description = "Adapter directory (PEFT layout).", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "Labelled JSONL/CSV to evaluate on.", Required = true };
        var labels = new Option<FileInfo?>("--labels-from") { Description = "Training file whose labels fix the label ids (default: --data)." };
        var ranks = new Option<string?>("--ranks") { Description = "Evaluate the adapter cut to every rank of a range such as 1..8 (DyLoRA: its prefix at that rank; other methods: the largest singular values); writes metric-by-rank.png beside the adapter." };
        var command = new Command("eval", "Evaluate a trained adapter (accuracy, macro-F1, MCC).\n\nExamples:\n  peft eval --adapter runs/train/best --data data/sotu-era/test.jsonl --labels-from data/sotu-era/train.jsonl\n  peft eval --adapter runs/dylora/best --data data/sotu-era/test.jsonl --labels-from data/sotu-era/train.jsonl --ranks 1..8")
        {
            baseDir, adapter, data, labels, ranks,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var baseDirectory = result.GetValue(baseDir)!.FullName;
            var adapterDir = result.GetValue(adapter)!.FullName;
            var labelSource = ClassificationDataset.Load((result.GetValue(labels) ?? result.GetValue(data))!.FullName);
            var dataset = ClassificationDataset.Load(result.GetValue(data)!.FullName, labels: labelSource.Labels);
            var tokenizer = TextTokenizer.TryLoad(baseDirectory) ?? throw new PeftException("the base model directory has no tokenizer");
            (PretrainedModel Model, PeftModel Peft) Loaded(string directory)
            {
                var model = PretrainedModel.ForSequenceClassification(baseDirectory, labelSource.Labels, out _);
                return (model, PeftModel.FromPretrained(model, directory));
            }

            EvaluationResult Score(string directory, string title)
            {
                var (model, peft) = Loaded(directory);
                return ProgressDisplay.Run((progressFor, _) => new Trainer(model, peft, tokenizer, new TrainerOptions()).Evaluate(dataset, progressFor(title)));
            }

            if (result.GetValue(ranks) is { } range)
            {
                var (from, to) = ParseRange(range);
                // One load serves the check and every cut: exporting reads the adapter, it does not change it.
                var (_, source) = Loaded(adapterDir);
                var largest = source.AdaptedModules.Max(m => m.Layer.GetPath(source.ActiveAdapter).Rank);
                if (to > largest)
                {
                    throw new ArgumentException($"--ranks {range} goes beyond the adapter's largest rank ({largest}); use --ranks {from}..{Math.Max(from, largest)}");
                }

                var accuracy = new List<double>();
                var rows = new List<string>();
                var scratch = Directory.CreateTempSubdirectory("peft-eval-ranks-");
                try
                {
                    for (var rank = from; rank <= to; rank++)
                    {
                        var cut = Path.Combine(scratch.FullName, rank.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        source.ExportPlainLora(cut, maxRanks: source.AdaptedModules.ToDictionary(m => m.Name, _ => rank));
                        var atRank = Score(cut, $"rank {rank}");
                        accuracy.Add(atRank.Accuracy);
                        rows.Add(FormattableString.Invariant($"| {rank} | {atRank.Accuracy:F4} | {atRank.MacroF1:F4} | {atRank.Mcc:F4} |"));
                    }
                }
                finally
                {
                    scratch.Delete(recursive: true);
                }

                Console.WriteLine("| rank | accuracy | macro-F1 | MCC |");
                Console.WriteLine("|---|---|---|---|");
                rows.ForEach(Console.WriteLine);
                var plot = Path.Combine(adapterDir, "metric-by-rank.png");
                Reports.Charts.Lines(plot, $"accuracy by rank ({Path.GetFileName(adapterDir.TrimEnd('/'))})", "rank", "accuracy", [("accuracy", Enumerable.Range(from, to - from + 1).Select(r => (double)r).ToList(), accuracy)]);
                Console.WriteLine($"plot: {plot}");
                return Program.Success;
            }

            var score = Score(adapterDir, "evaluate");
            Console.WriteLine(JsonSerializer.Serialize(new { loss = score.Loss, accuracy = score.Accuracy, macro_f1 = score.MacroF1, mcc = score.Mcc }));
            return Program.Success;
        }));
        return command;
    }

    private static (int From, int To) ParseRange(string range)
    {
        var parts = range.Split("..");
        if (parts.Length == 2 && int.TryParse(parts[0], out var from) && int.TryParse(parts[1], out var to) && from >= 1 && to >= from)
        {
            return (from, to);
        }

        throw new ArgumentException($"--ranks must look like 1..8, got '{range}'");
    }
}
