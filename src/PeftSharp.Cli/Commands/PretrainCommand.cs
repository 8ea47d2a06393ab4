using System.CommandLine;
using System.Text.Json.Nodes;
using PeftSharp.Models;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft pretrain</c>: masked-LM pretraining of a small BERT or DeBERTa-v3 style encoder from scratch on text corpora.</summary>
internal static class PretrainCommand
{
    public static readonly string[] DefaultCorpus = ["data/corpus/moby-dick.txt", "data/sotu-era/train.jsonl", "data/spam/train.jsonl"];

    public static Command Create()
    {
        var corpus = new Option<string[]>("--corpus") { Description = "Text files (.txt: one passage per line; .jsonl: the 'text' field).", AllowMultipleArgumentsPerToken = true }.DefaultAsset(DefaultCorpus);
        var output = new Option<DirectoryInfo>("--output") { Description = "Model directory to write.", DefaultValueFactory = _ => new DirectoryInfo("models/base") }.Folder();
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 3000 };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => 16 };
        var vocab = new Option<int>("--vocab-size") { Description = "WordPiece vocabulary size.", DefaultValueFactory = _ => 6000 };
        var layers = new Option<int>("--layers") { Description = "Encoder layers.", DefaultValueFactory = _ => 4 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size (heads = hidden / 64).", DefaultValueFactory = _ => 256 };
        var arch = new Option<string>("--arch") { Description = "Encoder architecture: bert (BertForMaskedLM, absolute positions) or deberta (DeBERTa-v3 style DebertaV2ForMaskedLM: relative attention, position buckets, no absolute positions).", DefaultValueFactory = _ => MaskedLMArchitecture.Bert.Name };
        arch.AcceptOnlyFromAmong([.. MaskedLMArchitecture.All.Select(a => a.Name)]);
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var command = new Command("pretrain", "Pretrain a small BERT or DeBERTa-v3 style encoder (masked LM) from scratch on text corpora; writes config.json, model.safetensors (fp16) and the WordPiece tokenizer (vocab.txt, tokenizer_config.json).\n\nExamples:\n  peft pretrain --output models/base --steps 3000\n  peft pretrain --arch deberta --output models/deberta-base --steps 3000")
        {
            corpus, output, steps, batch, vocab, layers, hidden, arch, seed,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var architecture = MaskedLMArchitecture.Find(result.GetValue(arch)!)!;
            var options = new PretrainOptions
            {
                Steps = result.GetValue(steps),
                BatchSize = result.GetValue(batch),
                VocabularySize = result.GetValue(vocab),
                Layers = result.GetValue(layers),
                Hidden = result.GetValue(hidden),
                Heads = Math.Max(1, result.GetValue(hidden) / 64),
                Seed = result.GetValue(seed),
                Architecture = architecture,
            };
            OptionMessages.Check(
                options.Validate,
                (nameof(options.Steps), steps), (nameof(options.BatchSize), batch), (nameof(options.VocabularySize), vocab),
                (nameof(options.Layers), layers), (nameof(options.Hidden), hidden), (nameof(options.Heads), hidden));
            var texts = ReadTexts(result.GetValue(corpus)!);
            ProgressDisplay.Run((progressFor, log) => MaskedLMPretrainer.Run(texts, result.GetValue(output)!.FullName, options, log, progressFor("pretrain")));
            return Program.Success;
        }));
        return command;
    }

    private static List<string> ReadTexts(IEnumerable<string> files)
    {
        var texts = new List<string>();
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"corpus file '{file}' does not exist", file);
            }

            foreach (var line in File.ReadLines(file).Where(l => !string.IsNullOrWhiteSpace(l)))
            {
                texts.Add(file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
                    ? JsonNode.Parse(line)?["text"]?.GetValue<string>() ?? throw new PeftException($"{file}: a record has no 'text' field")
                    : line);
            }
        }

        return texts;
    }
}
