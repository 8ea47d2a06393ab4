using System.Globalization;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Training;
using static TorchSharp.torch;

namespace PeftSharp.Bench;

/// <summary>
/// Resident memory over a long LoRA run through the real <see cref="Trainer"/> (bundled sotu-era
/// data, a small BERT), sampled every 500 steps; growth is measured from step 500 (after warm-up).
/// </summary>
internal static class MemoryFlat
{
    public static void Run(string[] args)
    {
        var steps = args.Length == 2 && args[0] == "--steps" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5000;
        var root = FindRepository();
        var train = ClassificationDataset.Load(Path.Combine(root, "data", "sotu-era", "train.jsonl"));
        var tokenizer = TextTokenizer.TryLoad(Path.Combine(root, "models", "base"))!;
        var config = new BertConfig(new ConfigJson(new JsonObject
        {
            ["model_type"] = "bert", ["architectures"] = new JsonArray("BertForSequenceClassification"), ["vocab_size"] = tokenizer.VocabularySize,
            ["hidden_size"] = 64, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2, ["intermediate_size"] = 128, ["max_position_embeddings"] = 128,
            ["pad_token_id"] = 0, ["id2label"] = new JsonObject(train.Labels.Select((l, i) => KeyValuePair.Create(i.ToString(CultureInfo.InvariantCulture), (JsonNode?)l))),
        }, "rss"));
        manual_seed(0);
        var model = new BertForSequenceClassification(config);
        var peft = PeftModel.Create(model, LoraConfig.ForEncoderClassification());
        var samples = new List<(int Step, double Mb, long Tensors)>();
        var progress = new Progress(p =>
        {
            if (p.Step % 500 == 0)
            {
                samples.Add((p.Step, ResidentMegabytes(), Tensor.TotalCount));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {p.Step}: RSS {samples[^1].Mb:F1} MB, live tensors {samples[^1].Tensors}"));
            }
        });
        var options = new TrainerOptions { MaxSteps = steps, BatchSize = 8, MaxLength = 64, LearningRate = 1e-3, LogEvery = 0, EvalEvery = steps + 1 };
        new Trainer(model, peft, tokenizer, options, null, progress).Train(train, null);
        var start = samples.First(s => s.Step >= 500);
        var end = samples[^1];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RSS growth from step {start.Step} to {end.Step}: {(end.Mb - start.Mb) / start.Mb * 100:F2} % ({start.Mb:F1} → {end.Mb:F1} MB; target ≤ 2 %); live tensors {start.Tensors} → {end.Tensors}"));
    }

    private static double ResidentMegabytes()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "models", "base")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("run the benchmark from inside the repository");
    }

    /// <summary>A synchronous progress sink (System.Progress posts to the thread pool).</summary>
    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
