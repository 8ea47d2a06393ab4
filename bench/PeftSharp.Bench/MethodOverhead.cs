using System.Globalization;
using PeftSharp.Adapters;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara;
using PeftSharp.Methods.Sora;
using PeftSharp.Methods.TiedLora;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Bench;

/// <summary>
/// A method's training step (controller hooks, extra loss, forward, backward, AdamW) against a LoRA
/// step at the same rank on the same encoder and batch, measured side by side.
/// </summary>
internal static class MethodOverhead
{
    private static readonly TargetModules Targets = TargetModules.FromNames("query", "value");

    /// <summary>Each adaptive method with its target ratio from the benchmark issue.</summary>
    private static readonly (string Name, double Target, Func<AdapterConfig> Create)[] Methods =
    [
        ("dylora", 1.03, () => new DyLoraConfig { R = 8, LoraAlpha = 16, TargetModules = Targets, ModulesToSave = ["classifier"] }),

        // PEFT's defaults for the schedule (tinit 0, tfinal 0, deltaT 1): importance update and
        // masking on every step, the allocator's most expensive setting.
        ("sora", 1.05, () => new SoraConfig { R = 8, LoraAlpha = 16, TargetModules = Targets, ModulesToSave = ["classifier"] }),
        ("mosara", 1.05, () => new MoSaraConfig { Threshold = 1.0, KMin = 8, KMax = 8, NumSets = 4, TargetModules = Targets, ModulesToSave = ["classifier"] }),
        ("tied_lora", 1.03, () => { var c = TiedLoraConfig.FromPreset("TL6"); c.TargetModules = Targets; c.ModulesToSave = ["classifier"]; return c; }),
        ("adalora", 1.10, () => new AdaLoraConfig { InitR = 8, TargetR = 4, LoraAlpha = 16, TInit = 0, TFinal = 0, DeltaT = 1, TotalStep = 100_000, TargetModules = Targets, ModulesToSave = ["classifier"] }),
    ];

    public static void Run(string[] args)
    {
        var rounds = Option(args, "--rounds") is { } r ? int.Parse(r, CultureInfo.InvariantCulture) : 7;
        var only = Option(args, "--method");
        var large = args.Contains("--large");
        var (layers, hidden) = large ? (12, 768) : (4, 256);
        Console.WriteLine($"encoder {layers} layers, d={hidden}, batch 8 × 128 tokens, r / r_max 8 on query+value; {rounds} rounds × 3 steps, ratio of medians");
        var config = ModelThroughput.EncoderConfig(layers, hidden, hidden / 64);
        var ids = randint(0, 8000, [8, 128]);
        var labels = randint(0, 4, [8]);

        Action Step(AdapterConfig adapter)
        {
            manual_seed(0);
            var model = new BertForSequenceClassification(config);
            var peft = PeftModel.Create(model, adapter);
            var controller = peft.GetController();
            var owned = controller?.OwnedParameters ?? [];
            var optimizer = optim.AdamW(peft.GetTrainableParameters().Where(p => !owned.Contains(p)), lr: 1e-4);
            model.train();
            long step = 0;
            return () =>
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
            };
        }

        if (only is null || only is "sara" or "mosara")
        {
            // Rank selection cost at injection: one SVD per adapted weight (singular values only for
            // SARA; full U, V for Mo-SARA's bases), measured on a fresh model each time.
            foreach (var (name, create) in new (string, Func<AdapterConfig>)[]
            {
                ("sara (svdvals)", () => new SaraConfig { Threshold = 0.1, TargetModules = Targets }),
                ("mosara (svd + bases)", () => new MoSaraConfig { Threshold = 0.1, TargetModules = Targets }),
            })
            {
                manual_seed(0);
                var model = new BertForSequenceClassification(config);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var peft = PeftModel.Create(model, create());
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} injection into {peft.AdaptedModules.Count} weights of {hidden}×{hidden}: {clock.Elapsed.TotalSeconds:F2} s (ranks {peft.AdaptedModules.Min(m => m.Layer.GetPath("default").Rank)}–{peft.AdaptedModules.Max(m => m.Layer.GetPath("default").Rank)})"));
            }
        }

        var lora = Step(new LoraConfig { R = 8, LoraAlpha = 16, TargetModules = Targets, ModulesToSave = ["classifier"] });
        var o = new Program.Options(0, 0, 0, rounds, 3, false);
        foreach (var (name, target, create) in Methods.Where(m => only is null || m.Name == only))
        {
            var (ratio, methodMs, loraMs) = Program.Compare(o, Step(create()), lora);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name} step / LoRA step: {ratio:F3} ({methodMs:F1} ms vs {loraMs:F1} ms; target ≤ {target:F2}: {(ratio <= target ? "met" : "NOT met")})"));
        }
    }

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
