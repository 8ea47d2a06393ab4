using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Methods.Lora;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The fused head loss against cross-entropy over whole logits: same sum, same gradients.</summary>
public sealed class FusedLinearCrossEntropyTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(100)]
    public void SumAndGradientEqualCrossEntropyOverWholeLogits(int chunkTokens)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var weight = randn([50, 16], generator: generator);
        var targets = randint(0, 50, [37], generator: generator);
        targets[4] = tensor(-100L);
        targets[20] = tensor(-100L);
        var fusedHidden = randn([37, 16], generator: generator).requires_grad_();
        var plainHidden = fusedHidden.detach().clone().requires_grad_();

        var fused = FusedLinearCrossEntropy.Sum(fusedHidden, weight, targets, chunkTokens: chunkTokens);
        var plain = nn.functional.cross_entropy(nn.functional.linear(plainHidden, weight), targets, ignore_index: -100, reduction: nn.Reduction.Sum);
        Assert.Equal(plain.item<float>(), fused.item<float>(), 1e-3);
        (fused * 0.7).backward();
        (plain * 0.7).backward();
        Assert.True(fusedHidden.grad!.allclose(plainHidden.grad!, rtol: 1e-5, atol: 1e-6));
        Assert.Equal(0f, fusedHidden.grad![4].abs().sum().item<float>());

        using var noGrad = no_grad();
        Assert.Equal(plain.item<float>(), FusedLinearCrossEntropy.Sum(plainHidden, weight, targets).item<float>(), 1e-3);
    }

    [Fact]
    public void DecoderLossEqualsCausalLmLossWithTheSameAdapterGradients()
    {
        using var scope = NewDisposeScope();
        var json = new JsonObject
        {
            ["model_type"] = "llama", ["vocab_size"] = 60, ["hidden_size"] = 32, ["intermediate_size"] = 40, ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-5,
            ["eos_token_id"] = 2, ["rope_theta"] = 10000.0, ["tie_word_embeddings"] = true,
        };
        manual_seed(5);
        var model = new DecoderForCausalLM(new DecoderConfig(new ConfigJson(json, "tiny/config.json")));
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear, R = 4, LoraAlpha = 8, InitLoraWeights = LoraInit.Random });
        model.train();
        var ids = randint(3, 60, [2, 9], generator: new Generator(7));
        var labels = ids.clone();
        labels[0, 0] = tensor(-100L);
        labels[1, 5] = tensor(-100L);

        var (sum, count) = CausalLmLoss.Sum(model.Forward(ids), labels);
        sum.backward();
        var expected = peft.GetTrainableParameters().Select(p => p.grad!.clone()).ToList();
        peft.GetTrainableParameters().ToList().ForEach(p => p.grad!.zero_());

        var shifted = cat([labels.narrow(1, 1, 8), full([2, 1], -100L, ScalarType.Int64)], 1);
        var fused = model.CrossEntropySum(ids, shifted);
        fused.backward();
        Assert.Equal(15, count);
        Assert.Equal(sum.item<float>(), fused.item<float>(), 1e-3);
        var actual = peft.GetTrainableParameters().Select(p => p.grad!).ToList();
        Assert.All(expected.Zip(actual), pair => Assert.True(
            (pair.First - pair.Second).abs().max().item<float>() <= 1e-4 * pair.First.abs().max().item<float>(),
            $"max |Δ| {(pair.First - pair.Second).abs().max().item<float>()} against max |g| {pair.First.abs().max().item<float>()}"));
    }

    [Fact]
    public void RefusesATrainableHeadAndMismatchedShapes()
    {
        using var scope = NewDisposeScope();
        var hidden = randn(4, 8).requires_grad_();
        var targets = zeros(4, dtype: ScalarType.Int64);
        var trainable = randn(10, 8).requires_grad_();
        Assert.Contains("frozen", Assert.Throws<ArgumentException>(() => FusedLinearCrossEntropy.Sum(hidden, trainable, targets)).Message, StringComparison.Ordinal);
        Assert.Contains("(vocabulary, hidden)", Assert.Throws<ArgumentException>(() => FusedLinearCrossEntropy.Sum(hidden, randn(10, 7), targets)).Message, StringComparison.Ordinal);
        Assert.Contains("share a dtype", Assert.Throws<ArgumentException>(() => FusedLinearCrossEntropy.Sum(hidden, randn(10, 8).to(ScalarType.BFloat16), targets)).Message, StringComparison.Ordinal);
    }
}
