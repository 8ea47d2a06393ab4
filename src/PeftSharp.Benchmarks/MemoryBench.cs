using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Training;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Resident memory over a long run of each method through the real <see cref="Trainer"/> (bundled
/// sotu-era data, a tiny BERT), sampled twenty times; growth is measured from the sample after the
/// first tenth of the run (warm-up: allocator pools, JIT, optimizer state) to the last, and the
/// live tensor count is compared over the same span.
/// </summary>
public static class MemoryBench
{
    /// <summary>
    /// Runs <paramref name="steps"/> steps of each registered method in <paramref name="methods"/> (default: all),
    /// batches of <paramref name="batchSize"/> × ≤ <paramref name="maxLength"/> tokens.
    /// </summary>
    public static IReadOnlyList<BenchRecord> Run(string root, int steps, IReadOnlyCollection<string>? methods, TextWriter log, int batchSize = 8, int maxLength = 64)
    {
        var records = new List<BenchRecord>();
        var train = ClassificationDataset.Load(Path.Combine(root, "data", "sotu-era", "train.jsonl"));
        var tokenizer = TextTokenizer.TryLoad(Path.Combine(root, "models", "base"))!;
        var config = BertConfig.Read(new ConfigJson(new JsonObject
        {
            ["model_type"] = "bert", ["architectures"] = new JsonArray("BertForSequenceClassification"), ["vocab_size"] = tokenizer.VocabularySize,
            ["hidden_size"] = 64, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2, ["intermediate_size"] = 128, ["max_position_embeddings"] = 128,
            ["pad_token_id"] = 0, ["id2label"] = new JsonObject(train.Labels.Select((l, i) => KeyValuePair.Create(i.ToString(CultureInfo.InvariantCulture), (JsonNode?)l))),
        }, "rss"));
        foreach (var method in AdapterMethodRegistry.All.Where(m => (methods is null || methods.Contains(m.Name))))
        {
            manual_seed(0);
            var model = new BertForSequenceClassification(config);
            var peft = PeftModel.Create(model, method.CreateTrainingConfig(steps)!);
            var options = new TrainerOptions { MaxSteps = steps, BatchSize = batchSize, MaxLength = maxLength, LearningRate = 1e-3, LogEvery = 0, EvalEvery = steps + 1 };
            records.AddRange(Track(method.Name, steps, progress => new Trainer(model, peft, tokenizer, options, null, progress).Train(train, null), log));
        }

        return records;
    }

    /// <summary>
    /// Runs <paramref name="train"/> (a training run of <paramref name="steps"/> steps reporting to the
    /// given progress sink), sampling this process's RSS, live tensor count and managed heap twenty times;
    /// returns the RSS growth (%) and live-tensor change from the sample after the first tenth of the run
    /// (warm-up: allocator pools, JIT, optimizer state) to the last, named after <paramref name="label"/>.
    /// </summary>
    public static IReadOnlyList<BenchRecord> Track(string label, int steps, Action<IProgress<TrainingProgress>> train, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(log);
        var every = Math.Max(1, steps / 20);
        var warmup = Math.Max(every, steps / 10);
        var samples = new List<(int Step, double Mb, long Tensors, double ManagedMb)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var progress = new SyncProgress(p =>
        {
            if (p.Step % every == 0)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                samples.Add((p.Step, ResidentMegabytes(), Tensor.TotalCount, GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {label} step {p.Step}: RSS {samples[^1].Mb:F1} MB, {samples[^1].Tensors} live tensors, managed heap {samples[^1].ManagedMb:F1} MB, {clock.Elapsed.TotalMinutes:F1} min"));
            }
        });
        train(progress);
        var after = samples.Where(s => s.Step >= warmup).ToList();
        var (start, end) = (after[0], after[^1]);
        var peak = after.Max(s => s.Mb);
        var curve = string.Join(" ", samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Mb:F1}")));
        var managed = string.Join(" ", samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.ManagedMb:F1}")));
        BenchRecord[] records =
        [
            new($"RSS growth over {steps} steps ({label})", (end.Mb - start.Mb) / start.Mb * 100, "%", 2,
                Detail: string.Create(CultureInfo.InvariantCulture, $"step {start.Step} → {end.Step}: {start.Mb:F1} → {end.Mb:F1} MB (peak {peak:F1}); {clock.Elapsed.TotalMinutes:F1} min; RSS every {every} steps: {curve}; managed heap: {managed}")),
            new($"live tensors over {steps} steps ({label})", end.Tensors - start.Tensors, "tensors", 0,
                Detail: string.Create(CultureInfo.InvariantCulture, $"step {start.Step} → {end.Step}: {start.Tensors} → {end.Tensors} (max {after.Max(s => s.Tensors)}); every {every} steps: {string.Join(" ", samples.Select(s => s.Tensors))}")),
        ];
        foreach (var record in records)
        {
            log.WriteLine(record);
        }

        return records;
    }

    /// <summary>This process's resident set size in MB (Linux).</summary>
    public static double ResidentMegabytes() => ChildProcess.StatusBytes("VmRSS") / (1024.0 * 1024.0);

    /// <summary>A synchronous progress sink (System.Progress posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
