using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara;
using PeftSharp.Methods.Sora;
using PeftSharp.Methods.TiedLora;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Each adaptive method's training step (controller hooks, extra loss, forward, backward, AdamW and
/// the method's own optimizer, zero grad) against a LoRA step at the same rank on the same encoder and
/// batch, measured side by side; plus the SVD cost of SARA/Mo-SARA's rank choice at injection.
/// </summary>
public static class MethodStepBench
{
    private static readonly TargetModules Targets = TargetModules.FromNames("query", "value");

    /// <summary>Each adaptive method with its target ratio from the benchmark issue.</summary>
    public static readonly IReadOnlyList<(string Name, double Target, Func<AdapterConfig> Create)> Methods =
    [
        ("dylora", 1.03, () => new DyLoraConfig { R = 8, LoraAlpha = 16, TargetModules = Targets, ModulesToSave = ["classifier"] }),
        ("sora", 1.05, () => new SoraConfig { R = 8, LoraAlpha = 16, TargetModules = Targets, ModulesToSave = ["classifier"] }),
        ("mosara", 1.05, () => new MoSaraConfig { Threshold = 1.0, KMin = 8, KMax = 8, NumSets = 4, TargetModules = Targets, ModulesToSave = ["classifier"] }),
        ("tied_lora", 1.03, () => { var c = TiedLoraConfig.FromPreset("TL6"); c.TargetModules = Targets; c.ModulesToSave = ["classifier"]; return c; }),

        // PEFT's schedule defaults (tinit 0, tfinal 0, deltaT 1): importance update and masking on
        // every step, the allocator's most expensive setting.
        ("adalora", 1.10, () => new AdaLoraConfig { InitR = 8, TargetR = 4, LoraAlpha = 16, TInit = 0, TFinal = 0, DeltaT = 1, TotalStep = 100_000, TargetModules = Targets, ModulesToSave = ["classifier"] }),
    ];

    /// <summary>Runs the comparisons on an encoder of <paramref name="layers"/> × <paramref name="hidden"/> (12 × 768 is the shape).</summary>
    public static IReadOnlyList<BenchRecord> Run(int layers, int hidden, int rounds, IReadOnlyCollection<string>? only, TextWriter log)
    {
        var records = new List<BenchRecord>();
        var shape = $"{layers} layers d {hidden}, batch 8 × 128, r 8 on query+value";
        var config = ModelThroughput.EncoderConfig(layers, hidden, hidden / 64);
        var ids = randint(0, 8000, [8, 128]);
        var labels = randint(0, 4, [8]);
        if (only is null || only.Contains("sara") || only.Contains("mosara"))
        {
            foreach (var (name, create) in new (string, Func<AdapterConfig>)[]
            {
                ("SARA rank choice at injection (singular values)", () => new SaraConfig { Threshold = 0.1, TargetModules = Targets }),
                ("Mo-SARA injection (full SVD and bases)", () => new MoSaraConfig { Threshold = 0.1, TargetModules = Targets }),
            })
            {
                manual_seed(0);
                var model = new BertForSequenceClassification(config);
                var clock = Stopwatch.StartNew();
                var peft = PeftModel.Create(model, create());
                records.Add(new BenchRecord(name, clock.Elapsed.TotalSeconds, "s", Detail: $"{peft.AdaptedModules.Count} weights of {hidden}×{hidden}"));
                log.WriteLine(records[^1]);
            }
        }

        var lora = Step(config, ids, labels, new LoraConfig { R = 8, LoraAlpha = 16, TargetModules = Targets, ModulesToSave = ["classifier"] });
        foreach (var (name, target, create) in Methods.Where(m => only is null || only.Contains(m.Name)))
        {
            var (ratio, methodMs, loraMs) = SideBySide.Compare(rounds, 3, Step(config, ids, labels, create()), lora);
            records.Add(new BenchRecord($"{name} training step / LoRA step", ratio, "ratio", target, Detail: FormattableString.Invariant($"{methodMs:F1} ms vs {loraMs:F1} ms; {shape}")));
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
        var controller = peft.GetController();
        var owned = controller?.OwnedParameters ?? [];
        var optimizer = optim.AdamW(peft.GetTrainableParameters().Where(p => !owned.Contains(p)), lr: 1e-4);
        model.train();
        long step = 0;
        return (model, () =>
        {
            using var scope = NewDisposeScope();
            controller?.OnStepBegin(step);
            var loss = nn.functional.cross_entropy(model.Forward(ids), labels);
            if (controller?.ExtraLoss(step) is { } extra)
            {
                loss = loss + extra;
            }

            loss.backward();
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
        });
    }
}
