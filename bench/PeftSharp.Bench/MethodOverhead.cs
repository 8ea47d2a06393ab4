using System.Globalization;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Bench;

/// <summary>
/// A method's training step (controller hooks, forward, backward, AdamW) against a LoRA step at the
/// same rank on the same encoder and batch, measured side by side.
/// </summary>
internal static class MethodOverhead
{
    public static void Run(string[] args)
    {
        var rounds = args.Length >= 2 && args[0] == "--rounds" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
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
            var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-4);
            var controller = peft.GetController();
            model.train();
            long step = 0;
            return () =>
            {
                using var scope = NewDisposeScope();
                controller?.OnStepBegin(step);
                nn.functional.cross_entropy(model.Forward(ids), labels).backward();
                controller?.OnAfterBackward(step);
                optimizer.step();
                controller?.OnAfterOptimizerStep(step);
                optimizer.zero_grad();
                step++;
            };
        }

        var targets = TargetModules.FromNames("query", "value");
        var lora = Step(new LoraConfig { R = 8, LoraAlpha = 16, TargetModules = targets, ModulesToSave = ["classifier"] });
        var dylora = Step(new DyLoraConfig { R = 8, LoraAlpha = 16, TargetModules = targets, ModulesToSave = ["classifier"] });
        var o = new Program.Options(0, 0, 0, rounds, 3, false);
        var (ratio, dyMs, loraMs) = Program.Compare(o, dylora, lora);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"DyLoRA step / LoRA step: {ratio:F3} ({dyMs:F1} ms vs {loraMs:F1} ms; target ≤ 1.03: {(ratio <= 1.03 ? "met" : "NOT met")})"));
    }
}
