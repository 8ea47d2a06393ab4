using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>What the model-config fuzz target found: <see cref="PretrainedModel.ReadConfig"/> reads every family without building a model.</summary>
public sealed class ModelConfigReadTests
{
    private static ModelConfig Read(string json) => PretrainedModel.ReadConfig(ConfigJson.Parse(Encoding.UTF8.GetBytes(json), "config.json"));

    [Theory]
    [InlineData("""{"architectures": [1], "model_type": "llama"}""", "architectures[0]")]
    [InlineData("""{"model_type": 7}""", "model_type")]
    [InlineData("""{"model_type": ["bert"]}""", "model_type")]
    [InlineData("""{"model_type": "t5"}""", "model_type")]
    public void AFamilyNamedByAnythingButAKnownStringIsAConfigFormatException(string json, string field)
    {
        var error = Assert.Throws<ConfigFormatException>(() => Read(json));
        Assert.Equal(field, error.Field);
        Assert.Equal("config.json", error.FilePath);
    }

    [Fact]
    public void BillionsOfLayersCostNothingWhileReading()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var config = (DecoderConfig)Read("""{"model_type": "mistral", "num_hidden_layers": 2147483647, "hidden_size": 64, "num_attention_heads": 4, "sliding_window": 16}""");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Equal(int.MaxValue, config.SlidingWindows.Count);
        Assert.Equal(16, config.SlidingWindows[int.MaxValue - 1]);
    }

    [Fact]
    public void QwenWindowsStartAfterMaxWindowLayers()
    {
        var config = (DecoderConfig)Read("""{"model_type": "qwen2", "num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 4, "use_sliding_window": true, "sliding_window": 8, "max_window_layers": 2}""");
        Assert.Equal([null, null, 8, 8], config.SlidingWindows);
    }

    [Theory]
    [InlineData("""{"model_type": "bert", "vocab_size": 1099511627776}""", "vocab_size")]
    [InlineData("""{"model_type": "llama", "vocab_size": 1099511627776}""", "vocab_size")]
    public void AVocabularyOfTwoToTheFortyIsRefusedWhileReading(string json, string field)
    {
        var error = Assert.Throws<ConfigFormatException>(() => Read(json));
        Assert.Equal(field, error.Field);
    }

    [Theory]
    [InlineData("""{"model_type": "bert"}""", typeof(BertConfig))]
    [InlineData("""{"architectures": ["RobertaForMaskedLM"], "model_type": "roberta"}""", typeof(BertConfig))]
    [InlineData("""{"model_type": "gpt2"}""", typeof(Gpt2Config))]
    [InlineData("""{"model_type": "deberta-v2"}""", typeof(DebertaV2Config))]
    [InlineData("""{"architectures": ["Phi3ForCausalLM"], "model_type": "phi3"}""", typeof(DecoderConfig))]
    public void EachFamilyIsReadByItsOwnConfig(string json, Type type) => Assert.IsType(type, Read(json));
}
