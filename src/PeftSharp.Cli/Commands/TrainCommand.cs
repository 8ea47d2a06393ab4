using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft train</c> and <c>peft eval</c>: fine-tune an adapter on a classification task and evaluate it.</summary>
internal static class TrainCommand
{
    public static Command CreateTrain()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = $"Base model directory (default: the imported MiniLM, {DefaultModels.Classification})." }.DefaultAsset(DefaultModels.Classification);
        var data = new Option<DirectoryInfo>("--data") { Description = "Task directory with train.jsonl and validation.jsonl (test.jsonl optional; causal-lm: validation.jsonl optional)." }.DefaultAsset("data/sotu-era");
        var method = new Option<string>("--method") { Description = $"Adapter method ({string.Join(", ", AdapterMethodRegistry.All.Select(m => m.Name))}).", DefaultValueFactory = _ => AdapterMethodRegistry.All[0].Name };
        var config = new Option<FileInfo?>("--adapter-config") { Description = "adapter_config.json to use instead of the method's recommended configuration." };
        var output = new Option<DirectoryInfo>("--output") { Description = "Run folder (metrics.jsonl, best/, checkpoint/).", DefaultValueFactory = _ => new DirectoryInfo("runs/train") }.Folder();
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 3, Description = "Epochs." };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (overrides --epochs)." };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default: 1e-3 for seq-cls; the method's recommended rate for causal-lm)." };
        var dtype = DecoderLoader.DtypeOption("causal-lm: dtype to hold the frozen base in (fp32, bf16 or fp16); adapters and optimizer state stay fp32.");
        var packing = new Option<bool>("--packing") { Description = "causal-lm: pack short examples into rows of --max-length tokens (--batch-size rows a batch); each example attends only to itself and positions restart, so the loss equals the unpacked one." };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "causal-lm: recompute each decoder layer in backward instead of keeping its activations (less memory, about one more forward per step)." };
        var evalLimit = new Option<int>("--eval-limit") { DefaultValueFactory = _ => 100, Description = "causal-lm: held-out records (test.jsonl, else validation.jsonl) the trained adapter generates for greedily, scored by the task's metrics in report.md; the first ones (0: all)." }.AtLeast(0);
        var generationMetrics = DecoderLoader.GenerationMetricsOption("causal-lm: metrics that score the held-out generations in report.md (exact_match, token_error_rate; g2p's names word_accuracy, phoneme_error_rate).");
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 16, Description = "Examples per micro-batch." };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1, Description = "Micro-batches per optimizer step." };
        var schedule = new Option<LearningRateSchedule>("--schedule") { DefaultValueFactory = _ => LearningRateSchedule.Linear, Description = "Linear, Cosine or Constant after warm-up." };
        var evalEvery = new Option<int>("--eval-every") { DefaultValueFactory = _ => 0, Description = "Evaluate every N steps (0: every epoch)." };
        var patience = new Option<int?>("--early-stopping") { Description = "Stop after N evaluations without improvement." };
        var metric = new Option<string?>("--metric") { Description = "Metric that picks the best adapter: accuracy (default), macro_f1 or mcc for seq-cls; perplexity (default) for causal-lm." };
        metric.AcceptOnlyFromAmong([.. SequenceClassificationTask.ClassificationMetrics, Training.CausalLanguageModeling.CausalLmTask.Perplexity]);
        var task = new Option<string?>("--task") { Description = "causal-lm or seq-cls (default: inferred from the data and the model: text/prompt/messages records on a decoder are causal-lm, labelled records seq-cls)." };
        task.AcceptOnlyFromAmong(SftInputs.CausalLm, SftInputs.SequenceClassification);
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "Random seed." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --output." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Start a new run in an --output that holds an earlier run's checkpoint (which is replaced)." };
        var saveEvery = new Option<int>("--save-every") { DefaultValueFactory = _ => 0, Description = "Save the resume checkpoint every N steps, besides after every evaluation (0: only after evaluations)." };
        var maxLength = new Option<int>("--max-length") { DefaultValueFactory = _ => 128, Description = "Tokens per example (longer texts are truncated)." };
        var command = new Command("train", "Fine-tune an adapter on a text-classification task, or a decoder on SFT data (text, prompt/completion or messages records: loss on the completion or the assistant turns).\nCtrl-C stops after the current step, saves a checkpoint and exits with code 130; continue with --resume.\n\nExamples:\n  peft train --data data/spam --method lora --output runs/spam\n  peft train --base models/decoder --data data/g2p --method lora --output runs/g2p")
        {
            baseDir, data, method, config, output, epochs, steps, lr, batch, accumulation, schedule, evalEvery, saveEvery, maxLength, patience, metric, task, dtype, checkpointing, packing, evalLimit, generationMetrics, seed, resume, overwrite,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var dataDir = result.GetValue(data)!.FullName;
            var causal = SftInputs.InferTask(result.GetValue(task), result.GetValue(baseDir)!.FullName, Path.Combine(dataDir, "train.jsonl")) == SftInputs.CausalLm;
            var options = new TrainerOptions
            {
                Epochs = result.GetValue(epochs), MaxSteps = result.GetValue(steps), LearningRate = result.GetValue(lr) ?? 1e-3, HeadLearningRate = result.GetValue(lr) ?? 1e-3,
                BatchSize = result.GetValue(batch), GradientAccumulation = result.GetValue(accumulation), Schedule = result.GetValue(schedule),
                EvalEvery = result.GetValue(evalEvery), EarlyStoppingPatience = result.GetValue(patience),
                Metric = result.GetValue(metric) ?? (causal ? Training.CausalLanguageModeling.CausalLmTask.Perplexity : "accuracy"),
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

            if (causal)
            {
                var decoder = new CausalLmTraining.DecoderSettings(DecoderLoader.ParseDtype(result.GetValue(dtype)), result.GetValue(checkpointing), result.GetValue(lr), result.GetValue(packing), result.GetValue(evalLimit) is > 0 and var limit ? limit : null, DecoderLoader.ParseGenerationMetrics(result.GetValue(generationMetrics)));
                return CausalLmTraining.Run(result.GetValue(baseDir)!.FullName, dataDir, result.GetValue(method)!, result.GetValue(config), options, decoder, result.GetValue(resume));
            }

            // Everything read from the user's files is checked before the model loads.
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
            Trainer trainer = null!;
            if (!Interruptible.TryRun(token => ProgressDisplay.Run((progressFor, log) =>
            {
                trainer = new Trainer(model, peft, tokenizer, options, log, progressFor(info.Name));
                return trainer.Train(train, validation, result.GetValue(resume), token);
            }), out var run))
            {
                return Program.Interrupted;
            }

            if (run!.Best is { } best)
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
        var baseDir = new Option<DirectoryInfo>("--base") { Description = $"Base model directory (an encoder: classification metrics; a decoder: generation metrics; default: the imported MiniLM, {DefaultModels.Classification})." }.DefaultAsset(DefaultModels.Classification);
        var adapter = new Option<DirectoryInfo>("--adapter") { Description = "Adapter directory (PEFT layout).", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "JSONL/CSV to evaluate on (labelled; for a decoder, prompt/completion records or conversations ending with the assistant's reply), or a task directory holding <split>.jsonl.", Required = true };
        var split = new Option<string>("--split") { Description = "The split a task directory given as --data is evaluated on.", DefaultValueFactory = _ => "test" };
        var labels = new Option<FileInfo?>("--labels-from") { Description = "Training file whose labels fix the label ids (default: --data)." };
        var ranks = new Option<string?>("--ranks") { Description = "Evaluate the adapter cut to every rank of a range such as 1..8 (DyLoRA: its prefix at that rank; other methods: the largest singular values); writes metric-by-rank.png beside the adapter." };
        var generationMetrics = DecoderLoader.GenerationMetricsOption("Decoder: metrics that score the greedy generations (exact_match, token_error_rate; g2p's names word_accuracy, phoneme_error_rate).");
        var command = new Command("eval", "Evaluate a trained adapter: accuracy, macro-F1 and MCC on an encoder; on a decoder, greedy generation scored by exact match and token error rate, or the metrics --generation-metrics names (samples included).\n\nExamples:\n  peft eval --adapter runs/train/best --data data/sotu-era/test.jsonl --labels-from data/sotu-era/train.jsonl\n  peft eval --adapter runs/dylora/best --data data/sotu-era/test.jsonl --labels-from data/sotu-era/train.jsonl --ranks 1..8\n  peft eval --base models/decoder --adapter runs/g2p/best --data data/g2p --split test --ranks 1..8 --generation-metrics word_accuracy phoneme_error_rate")
        {
            baseDir, adapter, data, split, labels, ranks, generationMetrics,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var baseDirectory = result.GetValue(baseDir)!.FullName;
            var adapterDir = result.GetValue(adapter)!.FullName;
            var dataPath = result.GetValue(data)!.FullName;
            dataPath = Directory.Exists(dataPath) ? Path.Combine(dataPath, $"{result.GetValue(split)}.jsonl") : dataPath;
            var evaluation = PretrainedModel.ReadConfig(ModelConfig.LoadJson(baseDirectory)) is DecoderConfig
                ? GenerativeEvaluation(baseDirectory, dataPath, DecoderLoader.ParseGenerationMetrics(result.GetValue(generationMetrics)))
                : ClassificationEvaluation(baseDirectory, dataPath, result.GetValue(labels)?.FullName ?? dataPath);
            if (result.GetValue(ranks) is { } range)
            {
                var (from, to) = RankCuts.ParseRange(range);
                // One load serves every cut: exporting reads the adapter, it does not change it.
                var scores = RankCuts.Score(evaluation.Load(adapterDir), from, to, (rank, cut) => evaluation.Score(cut, $"rank {rank}").Values);
                Console.WriteLine($"| rank | {string.Join(" | ", evaluation.Headers)} |");
                Console.WriteLine($"|---|{string.Concat(evaluation.Headers.Select(_ => "---|"))}");
                for (var i = 0; i < scores.Count; i++)
                {
                    Console.WriteLine(FormattableString.Invariant($"| {from + i} | {string.Join(" | ", scores[i].Select(v => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))} |"));
                }

                var plot = Path.Combine(adapterDir, "metric-by-rank.png");
                var metric = evaluation.Headers[0];
                Reports.Charts.Lines(plot, $"{metric} by rank ({Path.GetFileName(adapterDir.TrimEnd('/'))})", "rank", metric, [(metric, Enumerable.Range(from, to - from + 1).Select(r => (double)r).ToList(), scores.Select(s => s[0]).ToList())]);
                Console.WriteLine($"plot: {plot}");
                return Program.Success;
            }

            Console.WriteLine(evaluation.Score(adapterDir, "evaluate").Json);
            return Program.Success;
        }));
        return command;
    }

    /// <summary>What <c>peft eval</c> runs for one kind of base: the table's metric names, loading an adapter, and scoring an adapter directory (metric values and the JSON line printed).</summary>
    private sealed record Evaluation(IReadOnlyList<string> Headers, Func<string, PeftModel> Load, Func<string, string, (double[] Values, string Json)> Score);

    private static Evaluation ClassificationEvaluation(string baseDirectory, string dataPath, string labelPath)
    {
        var labelSource = ClassificationDataset.Load(labelPath);
        var dataset = ClassificationDataset.Load(dataPath, labels: labelSource.Labels);
        var tokenizer = TextTokenizer.TryLoad(baseDirectory) ?? throw new PeftException("the base model directory has no tokenizer");
        return new(["accuracy", "macro-F1", "MCC"], Load, (directory, title) =>
        {
            var peft = Load(directory);
            var score = ProgressDisplay.Run((progressFor, _) => new Trainer((PretrainedModel)peft.Model, peft, tokenizer, new TrainerOptions()).Evaluate(dataset, progressFor(title)));
            return ([score.Accuracy, score.MacroF1, score.Mcc], JsonSerializer.Serialize(new { loss = score.Loss, accuracy = score.Accuracy, macro_f1 = score.MacroF1, mcc = score.Mcc }));
        });

        PeftModel Load(string directory) => PeftModel.FromPretrained(PretrainedModel.ForSequenceClassification(baseDirectory, labelSource.Labels, out _), directory);
    }

    private static Evaluation GenerativeEvaluation(string baseDirectory, string dataPath, IReadOnlyList<IGenerationMetric> metrics)
    {
        var examples = GenerationExample.ReadJsonLines(dataPath);
        var evaluator = CausalLmSetup.Evaluator(baseDirectory, examples, metrics: metrics);
        return new([.. evaluator.Options.Metrics.Select(m => m.Name)], Load, (directory, _) =>
        {
            var result = evaluator.Evaluate((DecoderForCausalLM)Load(directory).Model, examples);
            return ([.. result.Metrics.Values], result.ToJson().ToJsonString());
        });

        PeftModel Load(string directory) => PeftModel.FromPretrained(PretrainedModel.FromPretrained(baseDirectory), directory);
    }
}
