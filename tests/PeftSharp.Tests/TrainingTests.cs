using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class TrainingTests
{
    /// <summary>One AdamW step on a fixed batch, inside a dispose scope; returns the loss.</summary>
    private static float Step(Mlp model, optim.Optimizer optimizer, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(model.forward(x), y);
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }

    [Fact]
    public void LoraFineTuningLowersTheLossOfAFrozenMlp()
    {
        manual_seed(11);
        var model = new Mlp(8, 32, 3);
        var data = new Generator(5);
        var x = randn(256, 8, generator: data);
        var y = x.matmul(randn(8, 3, generator: data)).argmax(1);
        var baseWeights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var peft = PeftModel.Create(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = TargetModules.AllLinear });
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 2e-2);

        var first = Step(model, optimizer, x, y);
        var last = first;
        for (var i = 0; i < 150; i++)
        {
            last = Step(model, optimizer, x, y);
        }

        Assert.True(last < 0.5 * first, $"loss went from {first} to {last}; LoRA should at least halve it");
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.name.Contains("base_layer", StringComparison.Ordinal) || p.name.StartsWith("head", StringComparison.Ordinal)))
        {
            var original = baseWeights[name.Replace(".base_layer", string.Empty)];
            Assert.True(TestUtil.Identical(parameter, original), $"frozen {name} changed");
        }
    }

    /// <summary>Live tensors after finalizers of earlier tests' garbage have run (the count is process-wide).</summary>
    private static long LiveTensors() => LiveTensorCount.Settled();

    [Fact]
    public void TrainingStepsDoNotLeakTensors()
    {
        manual_seed(12);
        var model = new Mlp(8, 32, 3);
        var x = randn(64, 8);
        var y = randint(0, 3, [64]);
        var peft = PeftModel.Create(model, new LoraConfig { R = 4, TargetModules = TargetModules.AllLinear, LoraDropout = 0.1 });
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-3);
        for (var i = 0; i < 5; i++)
        {
            Step(model, optimizer, x, y);
        }

        var live = LiveTensors();
        for (var i = 0; i < 200; i++)
        {
            Step(model, optimizer, x, y);
        }

        Assert.Equal(live, LiveTensors());
        using (no_grad())
        {
            peft.MergeAdapter();
            peft.UnmergeAdapter();
            model.eval();
            using var scope = NewDisposeScope();
            model.forward(x);
        }

        Assert.Equal(live, LiveTensors());
    }
}
