using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Each adaptive method's training step (controller hooks, extra loss, forward, backward, AdamW and
/// the method's own optimizer, zero grad) against a LoRA step at the same rank on the same encoder and
/// batch, measured side by side; plus the cost of injection where a method declares it (SARA/Mo-SARA's SVDs).
/// The settings and tolerances are the methods' <see cref="BenchmarkKind.StepTime"/> and <see cref="BenchmarkKind.Injection"/> variants.
/// </summary>
public static class MethodStepBench
{
    private static readonly TargetModules Targets = TargetModules.FromNames("query", "value");

    /// <summary>The settings the step benchmarks give a method: <paramref name="targets"/> (default query and value) adapted at rank <paramref name="rank"/>, classifier trained in full.</summary>
    public static BenchmarkSettings Settings(int rank = 8, TargetModules? targets = null) => new(targets ?? Targets, ["classifier"], Rank: rank);

    /// <summary>Each registered method's variants of <paramref name="kind"/>, with the method's name.</summary>
    public static IEnumerable<(AdapterMethod Method, BenchmarkVariant Variant)> Variants(BenchmarkKind kind) =>
        AdapterMethodRegistry.All.SelectMany(m => m.BenchmarkVariants().Where(v => v.Kind == kind).Select(v => (m, v)));

    /// <summary>The step-time baseline (LoRA) at <paramref name="rank"/> on <paramref name="targets"/> (default query and value) with the classifier trained in full.</summary>
    public static AdapterConfig Baseline(int rank, TargetModules? targets = null) =>
        Variants(BenchmarkKind.StepTime).Single(v => v.Variant.Baseline).Variant.Create(Settings(rank, targets));

    /// <summary>Runs the comparisons on an encoder of <paramref name="layers"/> × <paramref name="hidden"/> (12 × 768 is the shape).</summary>
    public static IReadOnlyList<BenchRecord> Run(int layers, int hidden, int rounds, IReadOnlyCollection<string>? only, TextWriter log)
    {
        var records = new List<BenchRecord>();
        var shape = $"{layers} layers d {hidden}, batch 8 × 128, r 8 on query+value";
        var config = ModelThroughput.EncoderConfig(layers, hidden, hidden / 64);
        var ids = randint(0, 8000, [8, 128]);
        var labels = randint(0, 4, [8]);
        foreach (var (_, variant) in Variants(BenchmarkKind.Injection).Where(v => only is null || only.Contains(v.Method.Name)))
        {
            manual_seed(0);
            var model = new BertForSequenceClassification(config);
            var clock = Stopwatch.StartNew();
            var peft = PeftModel.Create(model, variant.Create(Settings()));
            records.Add(new BenchRecord(variant.Name, clock.Elapsed.TotalSeconds, "s", Detail: $"{peft.AdaptedModules.Count} weights of {hidden}×{hidden}"));
            log.WriteLine(records[^1]);
        }

        var lora = Step(config, ids, labels, Baseline(8));
        foreach (var (_, variant) in Variants(BenchmarkKind.StepTime).Where(v => !v.Variant.Baseline && (only is null || only.Contains(v.Method.Name))))
        {
            var (ratio, methodMs, loraMs) = SideBySide.Compare(rounds, 3, Step(config, ids, labels, variant.Create(Settings())), lora);
            records.Add(new BenchRecord($"{variant.Name} training step / LoRA step", ratio, "ratio", variant.Tolerance, Detail: FormattableString.Invariant($"{methodMs:F1} ms vs {loraMs:F1} ms; {shape}")));
            log.WriteLine(records[^1]);
        }

        return records;
    }

    /// <summary>One training step of <paramref name="adapter"/> on a fresh seeded encoder, as the trainer runs it.</summary>
    internal static Action Step(BertConfig config, Tensor ids, Tensor labels, AdapterConfig adapter) => Build(config, ids, labels, adapter).Step;

    /// <summary>The seeded encoder with <paramref name="adapter"/> injected and its training step.</summary>
    internal static (BertForSequenceClassification Model, Action Step) Build(BertConfig config, Tensor ids, Tensor labels, AdapterConfig adapter)
    {
        manual_seed(0);
        var model = new BertForSequenceClassification(config);
        var peft = PeftModel.Create(model, adapter);
        return (model, TrainingStep(peft, () => nn.functional.cross_entropy(model.Forward(ids), labels)));
    }

    /// <summary>
    /// The trainer's step on <paramref name="peft"/> (train mode): the controller's hooks in their order,
    /// <paramref name="loss"/> plus the controller's extra loss, backward, AdamW (lr 1e-4) over the
    /// trainable parameters the controller does not own, zero grad.
    /// </summary>
    internal static Action TrainingStep(PeftModel peft, Func<Tensor> loss)
    {
        var controller = peft.GetController();
        var owned = controller?.OwnedParameters ?? [];
        var optimizer = optim.AdamW(peft.GetTrainableParameters().Where(p => !owned.Contains(p)), lr: 1e-4);
        peft.Model.train();
        long step = 0;
        return () =>
        {
            using var scope = NewDisposeScope();
            controller?.OnStepBegin(step);
            var total = loss();
            if (controller?.ExtraLoss(step) is { } extra)
            {
                total = total + extra;
            }

            total.backward();
            controller?.OnAfterBackward(step);
            optimizer.step();
            controller?.OnOptimizerStep(step, 1e-4, 1.0);
            controller?.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
            foreach (var p in owned)
            {
                p.grad?.zero_();
            }

            step++;
        };
    }
}
