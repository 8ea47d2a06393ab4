using PeftSharp.Adapters;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// The cost of DeBERTa-v3's disentangled attention: a LoRA training step (r 8 on the query and value
/// projections, classifier trained) on a DeBERTa-v3-style encoder against the same step on BERT of the
/// same size, measured side by side.
/// </summary>
public static class DebertaBench
{
    /// <summary>A DeBERTa-v3-style classifier config of the benchmark encoder's size (256 log buckets, c2p + p2c, shared keys, normalised relative embeddings, no absolute positions, no token types).</summary>
    public static DebertaV2Config EncoderConfig(int layers, int hidden, int heads, double dropout = 0.1) => new(new ConfigJson(new JsonObject
    {
        ["model_type"] = "deberta-v2", ["architectures"] = new JsonArray("DebertaV2ForSequenceClassification"), ["vocab_size"] = 8000,
        ["hidden_size"] = hidden, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads, ["intermediate_size"] = 4 * hidden,
        ["max_position_embeddings"] = 512, ["num_labels"] = 4, ["hidden_dropout_prob"] = dropout, ["attention_probs_dropout_prob"] = dropout,
        ["relative_attention"] = true, ["position_buckets"] = 256, ["max_relative_positions"] = -1, ["pos_att_type"] = new JsonArray("p2c", "c2p"),
        ["share_att_key"] = true, ["norm_rel_ebd"] = "layer_norm", ["position_biased_input"] = false, ["type_vocab_size"] = 0,
        ["pooler_hidden_act"] = "gelu", ["pooler_dropout"] = 0,
    }, "bench"));

    /// <summary>Runs the comparison on <paramref name="layers"/> × <paramref name="hidden"/> encoders, batch 8 × 128.</summary>
    public static IReadOnlyList<BenchRecord> Run(int layers, int hidden, int rounds, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var ids = randint(0, 8000, [8, 128]);
        var labels = randint(0, 4, [8]);
        manual_seed(0);
        var deberta = Step(new DebertaV2ForSequenceClassification(EncoderConfig(layers, hidden, hidden / 64)), ["query_proj", "value_proj"], ids, labels);
        manual_seed(0);
        var bert = Step(new BertForSequenceClassification(ModelThroughput.EncoderConfig(layers, hidden, hidden / 64)), ["query", "value"], ids, labels);
        var (ratio, debertaMs, bertMs) = SideBySide.Compare(rounds, 3, deberta, bert);
        var record = new BenchRecord("DeBERTa-v3 LoRA training step / BERT LoRA step", ratio, "ratio",
            Detail: string.Create(CultureInfo.InvariantCulture, $"{debertaMs:F1} ms vs {bertMs:F1} ms; {layers} layers d {hidden}, batch 8 × 128, r 8 on query+value, 256 position buckets, c2p+p2c"));
        log.WriteLine(record);
        return [record];
    }

    private static Action Step(PretrainedModel model, string[] targets, Tensor ids, Tensor labels)
    {
        var peft = PeftModel.Create(model, MethodStepBench.Baseline(8, TargetModules.FromNames(targets)));
        var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-4);
        model.train();
        return () =>
        {
            using var scope = NewDisposeScope();
            nn.functional.cross_entropy(model.Forward(ids), labels).backward();
            optimizer.step();
            optimizer.zero_grad();
        };
    }
}
