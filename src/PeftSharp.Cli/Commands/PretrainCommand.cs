using System.CommandLine;
using PeftSharp.Models;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft pretrain</c>: masked-LM pretraining of a small BERT or DeBERTa-v3 style encoder, or causal-LM pretraining of a small Llama decoder, from scratch on text corpora.</summary>
internal static class PretrainCommand
{
    public static readonly string[] DefaultCorpus = ["data/corpus/moby-dick.txt", "data/sotu-era/train.jsonl", "data/spam/train.jsonl"];

    public static Command Create()
    {
        var corpus = new Option<string[]>("--corpus") { Description = "Text files (.txt: one passage per line; .jsonl: the 'text' field).", AllowMultipleArgumentsPerToken = true }.DefaultAsset(DefaultCorpus);
        var output = new Option<DirectoryInfo>("--output") { Description = "Model directory to write.", DefaultValueFactory = _ => new DirectoryInfo("models/base") }.Folder();
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 3000 };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => 16 };
        var vocab = new Option<int>("--vocab-size") { Description = "Vocabulary size (WordPiece for encoders, byte-level BPE for llama).", DefaultValueFactory = _ => 6000 };
        var layers = new Option<int>("--layers") { Description = "Encoder or decoder layers.", DefaultValueFactory = _ => 4 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size (heads = hidden / 64).", DefaultValueFactory = _ => 256 };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "llama: key/value heads (default: as many as the query heads; fewer is grouped-query attention)." };
        var intermediate = new Option<int?>("--intermediate-size") { Description = "Feed-forward width (default: 4 x hidden for encoders, 8/3 x hidden rounded up to 16 for llama)." };
        var length = new Option<int>("--sequence-length") { Description = "Tokens per training sequence.", DefaultValueFactory = _ => 128 };
        var rate = new Option<double>("--learning-rate") { Description = "Peak learning rate (linear warm-up over 6 % of the steps, then linear decay).", DefaultValueFactory = _ => 7e-4 };
        var validation = new Option<double>("--validation-share") { Description = "llama: share of the documents held out for validation perplexity.", DefaultValueFactory = _ => 0.05 };
        var chat = new Option<double>("--chat-share") { Description = "llama: share of the training documents seen as one-turn conversations in the chat template (first sentence from the user, the rest from the assistant).", DefaultValueFactory = _ => 0.0 };
        var logEvery = new Option<int>("--log-every") { Description = "Log a line every N steps.", DefaultValueFactory = _ => 100 };
        var arch = new Option<string>("--arch") { Description = "Architecture: bert (BertForMaskedLM, absolute positions), deberta (DeBERTa-v3 style DebertaV2ForMaskedLM: relative attention, position buckets, no absolute positions) or llama (LlamaForCausalLM: causal LM, RMSNorm, RoPE, SwiGLU, tied embeddings, byte-level BPE with a ChatML chat template).", DefaultValueFactory = _ => MaskedLMArchitecture.Bert.Name };
        arch.AcceptOnlyFromAmong([.. PretrainingArchitecture.All.Select(a => a.Name)]);
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var command = new Command("pretrain", "Pretrain a small BERT or DeBERTa-v3 style encoder (masked LM) or a small Llama decoder (causal LM) from scratch on text corpora. Encoders: config.json, model.safetensors (fp16) and the WordPiece tokenizer (vocab.txt, tokenizer_config.json). llama: config.json, model.safetensors (fp32), generation_config.json, tokenizer.json (byte-level BPE) and tokenizer_config.json with a ChatML chat template; reports validation perplexity.\n\nExamples:\n  peft pretrain --output models/base --steps 3000\n  peft pretrain --arch deberta --output models/deberta-base --steps 3000\n  peft pretrain --arch llama --output models/decoder --vocab-size 4096 --kv-heads 2 --sequence-length 256 --steps 600")
        {
            corpus, output, steps, batch, vocab, layers, hidden, kvHeads, intermediate, length, rate, validation, chat, logEvery, arch, seed,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var architecture = PretrainingArchitecture.Find(result.GetValue(arch)!)!;
            var options = new PretrainOptions
            {
                Steps = result.GetValue(steps),
                BatchSize = result.GetValue(batch),
                VocabularySize = result.GetValue(vocab),
                Layers = result.GetValue(layers),
                Hidden = result.GetValue(hidden),
                Heads = Math.Max(1, result.GetValue(hidden) / 64),
                KeyValueHeads = result.GetValue(kvHeads),
                IntermediateSize = result.GetValue(intermediate),
                SequenceLength = result.GetValue(length),
                LearningRate = result.GetValue(rate),
                ValidationShare = result.GetValue(validation),
                ChatShare = result.GetValue(chat),
                LogEvery = result.GetValue(logEvery),
                Seed = result.GetValue(seed),
                Architecture = architecture,
            };
            OptionMessages.Check(
                options.Validate,
                (nameof(options.Steps), steps), (nameof(options.BatchSize), batch), (nameof(options.VocabularySize), vocab),
                (nameof(options.Layers), layers), (nameof(options.Hidden), hidden), (nameof(options.Heads), hidden),
                (nameof(options.KeyValueHeads), kvHeads), (nameof(options.IntermediateSize), intermediate), (nameof(options.SequenceLength), length),
                (nameof(options.LearningRate), rate), (nameof(options.ValidationShare), validation), (nameof(options.ChatShare), chat), (nameof(options.LogEvery), logEvery));
            var texts = ReadTexts(result.GetValue(corpus)!);
            var directory = result.GetValue(output)!.FullName;
            if (architecture.Objective == ModelTask.CausalLanguageModeling)
            {
                var outcome = ProgressDisplay.Run((progressFor, log) => CausalLMPretrainer.Run(texts, directory, options, log, progressFor("pretrain")));
                if (ProgressDisplay.Interactive)
                {
                    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"validation perplexity {outcome.Perplexity:F2} (loss {outcome.ValidationLoss:F4}); saved to {directory}"));
                }
            }
            else
            {
                ProgressDisplay.Run((progressFor, log) => MaskedLMPretrainer.Run(texts, directory, options, log, progressFor("pretrain")));
            }

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
