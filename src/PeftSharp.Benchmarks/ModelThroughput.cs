using PeftSharp.Adapters;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Tokens per second of a forward+backward step of BERT-style encoders (sequence classification)
/// at batch 8 × 128 tokens: full fine-tuning (every parameter trains) against LoRA r = 8 on
/// query/value (base frozen), measured side by side.
/// </summary>
public static class ModelThroughput
{
    /// <summary>Full fine-tuning vs LoRA r 8 (q, v) step time on the 4 × 256 and 12 × 768 encoders.</summary>
    public static IReadOnlyList<BenchRecord> Run(int rounds, TextWriter log)
    {
        var records = new List<BenchRecord>();
        foreach (var (layers, hidden, heads) in new[] { (4, 256, 4), (12, 768, 12) })
        {
            records.Add(Measure(layers, hidden, heads, rounds));
            log.WriteLine(records[^1]);
        }

        return records;
    }

    private static BenchRecord Measure(int layers, int hidden, int heads, int rounds)
    {
        var config = EncoderConfig(layers, hidden, heads);
        manual_seed(0);
        var full = new BertForSequenceClassification(config);
        var lora = new BertForSequenceClassification(config);
        PeftModel.Create(lora, MethodStepBench.Baseline(8));
        full.train();
        lora.train();
        var ids = randint(0, 8000, [8, 128]);
        var labels = randint(0, 4, [8]);
        void Step(PretrainedModel model)
        {
            using var scope = NewDisposeScope();
            nn.functional.cross_entropy(model.Forward(ids), labels).backward();
            foreach (var p in model.parameters())
            {
                p.grad?.zero_();
            }
        }

        var (ratio, loraMs, fullMs) = SideBySide.Compare(rounds, 1, () => Step(lora), () => Step(full));
        const double tokens = 8 * 128;
        return new BenchRecord($"LoRA step / full fine-tuning step ({layers} layers d {hidden})", ratio, "ratio",
            Detail: string.Create(CultureInfo.InvariantCulture, $"full {tokens / fullMs * 1000:F0} tokens/s ({fullMs:F0} ms), LoRA r 8 q,v {tokens / loraMs * 1000:F0} tokens/s ({loraMs:F0} ms)"));
    }

    /// <summary>A BERT sequence classifier over 4 labels with an 8000-token vocabulary and FFN 4·hidden, as the benchmarks use.</summary>
    public static BertConfig EncoderConfig(int layers, int hidden, int heads, double dropout = 0.1) => BertConfig.Read(new ConfigJson(new JsonObject
    {
        ["model_type"] = "bert", ["architectures"] = new JsonArray("BertForSequenceClassification"), ["vocab_size"] = 8000,
        ["hidden_size"] = hidden, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads, ["intermediate_size"] = 4 * hidden,
        ["max_position_embeddings"] = 512, ["num_labels"] = 4,
        ["hidden_dropout_prob"] = dropout, ["attention_probs_dropout_prob"] = dropout,
    }, "bench"));
}
