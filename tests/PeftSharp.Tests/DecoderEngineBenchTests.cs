using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Training.CausalLanguageModeling;
using Xunit;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

public sealed class DecoderEngineBenchTests
{
    private static readonly DecoderBenchShape Tiny = new(Layers: 2, Hidden: 64, Heads: 4, KvHeads: 2, Ffn: 96, Vocab: 128, Batch: 2, Sequence: 16, Rank: 4);

    [Fact]
    public void TheAttentionComparisonTimesBothPathsAndRefusesASequenceTheBlocksDoNotServe()
    {
        var record = DecoderStepProfile.CompareAttention(Tiny, rounds: 1, sequence: 70);
        Assert.Contains("sequence 70", record.Name, StringComparison.Ordinal);
        Assert.True(double.IsFinite(record.Value) && record.Value > 0);
        Assert.Throws<InvalidOperationException>(() => DecoderStepProfile.CompareAttention(Tiny, rounds: 1, sequence: PeftSharp.Models.Decoders.BlockCausalAttention.MaxSequence + 1));
    }

    [Fact]
    public void TheHandWrittenReferenceAndPeftSharpGiveTheSameLossBeforeAndAfterAStep()
    {
        var lora = MethodStepBench.Variants(BenchmarkKind.StepTime).Single(v => v.Variant.Baseline).Variant.Create(DecoderEngineBench.Settings(Tiny));
        var (model, peft) = DecoderEngineBench.Create(Tiny, lora);
        using var disposeModel = model;
        Assert.Equal(7 * Tiny.Layers, peft.AdaptedModules.Count);
        using (no_grad())
        {
            // A trained-model scale for the tied embedding (the default N(0, 1) saturates the softmax), and
            // non-zero B so the LoRA terms enter the loss (and A gets gradient in the first step).
            model.Backbone.TokenEmbeddings.normal_(0, 0.02);
            foreach (var module in peft.AdaptedModules)
            {
                module.Layer.GetPath(peft.ActiveAdapter).NamedAdapterTensors().Single(kv => kv.Key == "lora_B.weight").Value.normal_(0, 0.05);
            }
        }

        var ids = DecoderEngineBench.Ids(Tiny);
        using var reference = DecoderEngineBench.Reference(Tiny, model, peft);
        Assert.Equal(2 * 7 * Tiny.Layers, reference.Trainable.Count);
        float PeftLoss()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            return CausalLmLoss.Compute(model.Forward(ids, null, null, null, false), ids).item<float>();
        }

        float ReferenceLoss()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            return reference.Loss(ids).item<float>();
        }

        var before = PeftLoss();
        Assert.InRange((double)before, Math.Log(Tiny.Vocab) - 0.5, Math.Log(Tiny.Vocab) + 0.5);
        AssertClose(before, ReferenceLoss());

        // Two steps each: equal losses afterwards mean equal gradients and AdamW updates.
        var peftStep = DecoderEngineBench.Step(model, peft, ids);
        var referenceStep = reference.Step(ids);
        for (var i = 0; i < 2; i++)
        {
            peftStep();
            referenceStep();
        }

        var after = PeftLoss();
        Assert.True(Math.Abs(after - before) > 1e-5, $"the steps changed nothing: {before} → {after}");
        AssertClose(after, ReferenceLoss());
    }

    private static void AssertClose(float expected, float actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-6 * Math.Abs(expected), $"{actual} is not within 1e-6 of {expected}");

    [Fact]
    public void TheStepFlopCountMatchesAHandCount()
    {
        // 1 layer, d 4, 2 heads of 2 / 1 KV head, FFN 8, vocabulary 10, 1 × 2 tokens, r 1. Per token:
        // q, o (4→4): 4·16 + 6·8 = 112 each; k, v (4→2): 32 + 36 = 68 each; gate, up (4→8), down (8→4): 128 + 72 = 200 each:
        // 960 per token, 1920 for 2 tokens. Attention 1·2 heads·6·2·2·3 = 144. LM head 4·2·4·10 = 320.
        var shape = new DecoderBenchShape(1, 4, 2, 1, 8, 10, 1, 2, 1);
        Assert.Equal(1920.0 + 144 + 320, shape.StepGemmFlops());
        Assert.InRange(DecoderBenchShape.SmolLm2.StepGemmFlops(), 6.0e11, 6.2e11);
    }

    [Fact]
    public void EveryStepTimeVariantBuildsOnTheDecoderProjections()
    {
        var settings = DecoderEngineBench.Settings(Tiny);
        var names = MethodStepBench.Variants(BenchmarkKind.StepTime).Select(v => v.Variant.Name).ToList();
        Assert.Equal(["adalora", "dora", "dylora", "lora", "mosara", "sara", "sora", "tied_lora"], names.Order(StringComparer.Ordinal));
        foreach (var (method, variant) in MethodStepBench.Variants(BenchmarkKind.StepTime))
        {
            var config = variant.Create(settings);
            Assert.Same(method, config.Method);
            config.Validate();
        }
    }
}
