using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Cli.Reports;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft export</c>, <c>peft merge</c> and <c>peft inspect</c>: what to do with a trained adapter.</summary>
internal static class AdapterCommands
{
    private static Option<DirectoryInfo> BaseOption() => new Option<DirectoryInfo>("--base") { Description = "Base model directory the adapter was trained on." }.DefaultAsset("models/base");

    private static Option<FileInfo?> LabelsOption() => new("--labels-from") { Description = "Training file whose labels fix the classifier's label order (default: the --eval file, else LABEL_0 … from the adapter's classifier)." };

    public static Command CreateExport()
    {
        var adapter = new Argument<DirectoryInfo>("adapter") { Description = "Trained adapter directory (PEFT layout)." };
        var output = new Option<DirectoryInfo>("--output") { Description = "Where to write the plain PEFT LoRA.", Required = true }.Folder();
        var rank = new Option<int?>("--rank") { Description = "Keep at most this rank in every module." };
        var budget = new Option<long?>("--budget") { Description = "Keep at most this many adapter parameters in total (the most important components across all modules)." };
        var eval = new Option<FileInfo?>("--eval") { Description = "Labelled JSONL/CSV: report the metric before and after." };
        var baseDir = BaseOption();
        var labels = LabelsOption();
        var command = new Command("export", "Turn any trained adapter into a compact plain PEFT LoRA, optionally cut to a rank or a parameter budget.\n\nDyLoRA truncates; AdaLoRA, SoRA and SARA keep their largest singular values (after dropping pruned components); Tied-LoRA materialises per-layer factors.\n\nExamples:\n  peft export runs/demo/sora/best --output out/sora-lora\n  peft export runs/demo/adalora/best --output out/b4k --budget 4000 --eval data/sotu-era/test.jsonl --labels-from data/sotu-era/train.jsonl")
        {
            adapter, output, rank, budget, eval, baseDir, labels,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            if (result.GetValue(rank) is not null && result.GetValue(budget) is not null)
            {
                throw new PeftConfigurationException("give --rank or --budget, not both");
            }

            if (result.GetValue(rank) is < 0 and var negative)
            {
                throw OptionMessages.Error(rank, $"must be ≥ 0, got {negative}");
            }

            var adapterDir = Existing(result.GetValue(adapter)!);
            var (model, peft, labelNames) = Load(result.GetValue(baseDir)!.FullName, adapterDir, result.GetValue(labels), result.GetValue(eval));
            var modules = peft.ModulesOf(peft.ActiveAdapter);
            var fullRanks = peft.GetEffectiveRanks();
            Dictionary<string, int>? caps = result.GetValue(budget) is { } n ? RankBudget.Allocate(peft, n)
                : result.GetValue(rank) is { } r ? modules.ToDictionary(m => m.Name, _ => r, StringComparer.Ordinal)
                : null;
            EvaluationResult? before = null;
            var evalFile = result.GetValue(eval);
            if (evalFile is not null)
            {
                before = Evaluate(model, peft, result.GetValue(baseDir)!.FullName, evalFile, labelNames, "before export");
            }

            var outputDir = result.GetValue(output)!.FullName;
            var exported = peft.ExportPlainLora(outputDir, maxRanks: caps);
            var ranks = modules.ToDictionary(m => m.Name, m => exported.TargetModules!.Names!.Contains(m.Name) ? exported.RankFor(m.Name) : 0, StringComparer.Ordinal);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{peft.GetConfig(peft.ActiveAdapter).PeftType} → LORA: {RankBudget.Parameters(peft, fullRanks):N0} → {RankBudget.Parameters(peft, ranks):N0} adapter parameters; total rank {fullRanks.Values.Sum()} → {ranks.Values.Sum()}"));
            if (evalFile is not null)
            {
                var (freshModel, freshPeft, _) = Load(result.GetValue(baseDir)!.FullName, outputDir, result.GetValue(labels), evalFile);
                var after = Evaluate(freshModel, freshPeft, result.GetValue(baseDir)!.FullName, evalFile, labelNames, "after export");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy {before!.Accuracy:F4} → {after.Accuracy:F4}, macro-F1 {before.MacroF1:F4} → {after.MacroF1:F4}"));
            }

            Console.WriteLine($"written: {outputDir}");
            return Program.Success;
        }));
        return command;
    }

    public static Command CreateMerge()
    {
        var adapter = new Argument<DirectoryInfo>("adapter") { Description = "Trained adapter directory (PEFT layout)." };
        var output = new Option<DirectoryInfo>("--output") { Description = "Where to write the merged model (config.json, model.safetensors (a decoder in its base's dtype), generation_config.json, tokenizer files and chat template).", Required = true }.Folder();
        var baseDir = BaseOption();
        var labels = LabelsOption();
        var command = new Command("merge", "Merge an adapter into its base and write a plain Hugging Face checkpoint that loads with no adapter code: computed in fp32, a decoder stored in its base's dtype, tokenizer files and chat template copied.\n\nExamples:\n  peft merge runs/demo/lora/best --output out/merged --labels-from data/sotu-era/train.jsonl\n  peft merge runs/g2p/lora/best --base models/decoder --output out/decoder-merged")
        {
            adapter, output, baseDir, labels,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var baseDirectory = result.GetValue(baseDir)!.FullName;
            // Loaded in float32, so the merge is computed in float32 and cast back to the base's dtype once (PEFT #1388).
            var (model, peft, _) = Load(baseDirectory, Existing(result.GetValue(adapter)!), result.GetValue(labels), null);
            peft.MergeAndUnload();
            var outputDir = result.GetValue(output)!.FullName;
            // A decoder goes back to its base's dtype; an encoder (small) keeps the fp32 merge.
            var dtype = model is PeftSharp.Models.Decoders.DecoderForCausalLM ? MergedModelWriter.StoredDType(baseDirectory) : TorchSharp.torch.ScalarType.Float32;
            MergedModelWriter.Write(model, baseDirectory, outputDir, dtype);
            Console.WriteLine($"merged {model.ArchitectureName} written to {outputDir} ({MergedModelWriter.TorchDTypeName(dtype)})");
            return Program.Success;
        }));
        return command;
    }

    public static Command CreateInspect()
    {
        var adapter = new Argument<DirectoryInfo>("adapter") { Description = "Adapter directory (PEFT layout)." };
        var plot = new Option<bool>("--plot") { Description = "Also write ranks.png (final ranks, layers × module types) and, for a run folder with ranks.jsonl, rank-evolution.png." };
        var baseDir = BaseOption();
        var labels = LabelsOption();
        var command = new Command("inspect", "Show an adapter's method, base, per-module ranks and parameter counts.\n\nExample:\n  peft inspect runs/demo/adalora/best --plot")
        {
            adapter, plot, baseDir, labels,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var adapterDir = Existing(result.GetValue(adapter)!);
            var (_, peft, _) = Load(result.GetValue(baseDir)!.FullName, adapterDir, result.GetValue(labels), null);
            var config = peft.GetConfig(peft.ActiveAdapter);
            var method = AdapterMethodRegistry.Find(config.PeftType)?.Name ?? config.PeftType;
            Console.WriteLine($"method: {method} (peft_type {config.PeftType})");
            Console.WriteLine($"base: {config.BaseModelNameOrPath ?? result.GetValue(baseDir)!.FullName}");
            Console.WriteLine("| module | in | out | rank | stored parameters | compact LoRA parameters |");
            Console.WriteLine("|---|---|---|---|---|---|");
            var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
            long stored = 0, compact = 0;
            var seen = new HashSet<IntPtr>();
            foreach (var module in peft.ModulesOf(peft.ActiveAdapter))
            {
                var path = module.Layer.GetPath(peft.ActiveAdapter);
                var own = path.NamedAdapterTensors().Concat(path.SharedTensors()).Where(t => seen.Add(t.Value.Handle)).Sum(t => t.Value.numel());
                var rank = path.EffectiveRank;
                var lora = (long)rank * (path.InFeatures + path.OutFeatures);
                ranks[module.Name] = rank;
                stored += own;
                compact += lora;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {module.Name} | {path.InFeatures} | {path.OutFeatures} | {rank} | {own:N0} | {lora:N0} |"));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total: {ranks.Count} modules, rank {ranks.Values.Sum()}, {stored:N0} stored adapter parameters, {compact:N0} as a compact LoRA; {peft.GetParameterReport()}"));
            if (result.GetValue(plot))
            {
                var png = Path.Combine(adapterDir, "ranks.png");
                Charts.RankHeatmap(png, $"{method}: rank per module", ranks);
                Console.WriteLine($"plot: {png}");
                var history = Path.Combine(Path.GetDirectoryName(adapterDir.TrimEnd(Path.DirectorySeparatorChar)) ?? adapterDir, "ranks.jsonl");
                if (File.Exists(history))
                {
                    var evolution = Path.Combine(adapterDir, "rank-evolution.png");
                    Charts.RankEvolution(evolution, $"{method}: rank per module over training", RunFiles.ReadRanks(history));
                    Console.WriteLine($"plot: {evolution}");
                }
            }

            return Program.Success;
        }));
        return command;
    }

    /// <summary>The base model with the adapter in <paramref name="adapterDir"/> loaded (a classifier when the adapter carries one).</summary>
    internal static (PretrainedModel Model, PeftModel Peft, IReadOnlyList<string>? Labels) Load(string baseDirectory, string adapterDir, FileInfo? labelsFrom, FileInfo? evalFile)
    {
        if (!Directory.Exists(baseDirectory))
        {
            throw new DirectoryNotFoundException($"base model directory '{baseDirectory}' does not exist (pass --base)");
        }

        IReadOnlyList<string>? labels = (labelsFrom ?? evalFile) is { } source ? ClassificationDataset.Load(Existing(source)).Labels : null;
        var classes = ClassifierSize(adapterDir);
        PretrainedModel model;
        if (classes is { } n)
        {
            if (labels is not null && labels.Count != n)
            {
                throw new PeftConfigurationException($"the adapter's classifier has {n} labels but {(labelsFrom ?? evalFile)!.Name} has {labels.Count}");
            }

            labels ??= Enumerable.Range(0, n).Select(i => $"LABEL_{i}").ToList();
            model = PretrainedModel.ForSequenceClassification(baseDirectory, labels, out _);
        }
        else
        {
            model = PretrainedModel.FromPretrained(baseDirectory);
        }

        return (model, PeftModel.FromPretrained(model, adapterDir), labels);
    }

    private static EvaluationResult Evaluate(PretrainedModel model, PeftModel peft, string baseDirectory, FileInfo data, IReadOnlyList<string>? labels, string title)
    {
        var tokenizer = TextTokenizer.TryLoad(baseDirectory) ?? throw new PeftException($"{baseDirectory} has no tokenizer files");
        var dataset = ClassificationDataset.Load(data.FullName, labels: labels);
        return ProgressDisplay.Run((progressFor, _) => new Trainer(model, peft, tokenizer, new TrainerOptions()).Evaluate(dataset, progressFor(title)));
    }

    /// <summary>The number of labels of the classifier saved with the adapter (modules_to_save), or null.</summary>
    private static int? ClassifierSize(string adapterDir)
    {
        var path = Path.Combine(adapterDir, PeftModel.WeightsFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        using var file = SafetensorsFile.Open(path);
        var head = file.Entries.FirstOrDefault(e => e.Name.EndsWith("classifier.weight", StringComparison.Ordinal) || e.Name.EndsWith("classifier.out_proj.weight", StringComparison.Ordinal));
        return head is null ? null : (int)head.Shape[0];
    }

    private static string Existing(DirectoryInfo directory) =>
        directory.Exists ? directory.FullName : throw new DirectoryNotFoundException($"adapter directory '{directory.FullName}' does not exist");

    private static string Existing(FileInfo file) =>
        file.Exists ? file.FullName : throw new FileNotFoundException($"data file '{file.FullName}' does not exist");
}
