using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// Two adapters on one base model, used for inference from two threads at once through
/// <see cref="PeftModel.UseAdapters"/>: each thread gets what it gets alone.
/// </summary>
public sealed class ConcurrencyTests
{
    private static (PretrainedModel Model, PeftModel Peft) TwoAdapters()
    {
        var root = BundledDemoTests.Repository();
        manual_seed(11);
        var model = PretrainedModel.ForSequenceClassification(Path.Combine(root, "models", "base"), ["no", "yes", "maybe"], out _);
        var peft = PeftModel.Create(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = TargetModules.FromNames("query", "value"), ModulesToSave = ["classifier"] }, "a");
        peft.AddAdapter("b", new LoraConfig { R = 8, LoraAlpha = 8, TargetModules = TargetModules.FromNames("key", "dense"), ModulesToSave = ["classifier"] });
        TestUtil.RandomizeAdapters(peft, "a");
        TestUtil.RandomizeAdapters(peft, "b");
        using (no_grad())
        {
            foreach (var saved in peft.SavedModules)
            {
                foreach (var parameter in saved.Wrapper.GetCopy("b").parameters())
                {
                    parameter.add_(randn_like(parameter) * 0.5);
                }
            }
        }

        model.eval();
        return (model, peft);
    }

    private static List<(Tensor Ids, Tensor Mask)> Inputs(int count)
    {
        var generator = new Generator(5);
        return Enumerable.Range(0, count).Select(i =>
        {
            var ids = randint(1, 6000, [2, 8 + i % 5], generator: generator);
            return (ids, ones_like(ids));
        }).ToList();
    }

    private static Tensor Logits(PretrainedModel model, PeftModel peft, string adapter, Tensor ids, Tensor mask)
    {
        using var noGrad = no_grad();
        using var choice = peft.UseAdapters(adapter);
        return model.Forward(ids, mask);
    }

    [Fact]
    public void TwoThreadsWithTwoAdaptersGetTheSequentialResults()
    {
        var (model, peft) = TwoAdapters();
        var inputs = Inputs(12);
        var expected = new Dictionary<string, List<Tensor>>
        {
            ["a"] = inputs.Select(x => Logits(model, peft, "a", x.Ids, x.Mask)).ToList(),
            ["b"] = inputs.Select(x => Logits(model, peft, "b", x.Ids, x.Mask)).ToList(),
        };

        // The per-thread choice computes what the model-wide active adapter computes.
        peft.SetAdapter("b");
        using (no_grad())
        {
            TestUtil.AssertClose(model.Forward(inputs[0].Ids, inputs[0].Mask), expected["b"][0], 0, 0);
        }

        Assert.False(TestUtil.Identical(expected["a"][0], expected["b"][0]), "the two adapters must compute different things for this test to mean anything");
        peft.SetAdapter("a");

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var start = new Barrier(2);
        var threads = new[] { "a", "b" }.Select(adapter => new Thread(() =>
        {
            start.SignalAndWait();
            for (var round = 0; round < 5; round++)
            {
                for (var i = 0; i < inputs.Count; i++)
                {
                    using var scope = NewDisposeScope();
                    var actual = Logits(model, peft, adapter, inputs[i].Ids, inputs[i].Mask);
                    var error = (actual - expected[adapter][i]).abs().max().item<float>();
                    if (error > 1e-5f)
                    {
                        failures.Add($"adapter {adapter}, input {i}, round {round}: differs from the sequential result by {error}");
                    }
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(failures);
        Assert.Equal(["a"], peft.ActiveAdapters);
    }

    [Fact]
    public void PerThreadChoiceRefusesMergedWeightsAndMergingRefusesOpenChoices()
    {
        var (_, peft) = TwoAdapters();
        using (peft.UseAdapters("b"))
        {
            var merge = Assert.Throws<InvalidOperationException>(() => peft.MergeAdapter(["a"]));
            Assert.Contains("UseAdapters scope(s) are open", merge.Message);
        }

        peft.MergeAdapter(["a"]);
        var use = Assert.Throws<InvalidOperationException>(() => peft.UseAdapters("b"));
        Assert.Contains("merged", use.Message);
        peft.UnmergeAdapter();
        using (peft.UseAdapters("b"))
        {
        }

        Assert.Throws<KeyNotFoundException>(() => peft.UseAdapters("c"));
    }
}
