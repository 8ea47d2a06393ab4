using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Models;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class PythonDecoderBenchTests
{
    private static readonly DecoderShape Tiny = new(64, 32, 2, 4, 2, 48, 32, 0, [2], 3);

    [Fact]
    public void TheExportHoldsTheWeightsBatchAndSettingsThePythonStepReads()
    {
        manual_seed(3);
        var model = LlamaArchitecture.Instance.Create(Tiny);
        var peft = PeftModel.Create(model, PythonDecoderBench.Adapter());
        var ids = randint(0, 64, [2, 5]);
        var path = Path.Combine(Path.GetTempPath(), $"python-decoder-export-{Guid.NewGuid():N}.safetensors");
        try
        {
            PythonDecoderBench.Export(path, model, peft, ids);
            using var file = SafetensorsFile.Open(path);

            // The names the script looks up: every projection of every layer carries its frozen weight and both LoRA factors.
            for (var layer = 0; layer < Tiny.Layers; layer++)
            {
                foreach (var projection in PythonDecoderBench.Projections)
                {
                    var part = projection is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn";
                    var prefix = $"model.layers.{layer}.{part}.{projection}.";
                    Assert.True(file.Contains(prefix + "base_layer.weight") && file.Contains(prefix + "default.lora_A") && file.Contains(prefix + "default.lora_B"), prefix);
                }
            }

            foreach (var (name, tensor) in model.state_dict())
            {
                using var read = file.Read(name);
                Assert.True(Same(read, tensor), name);
            }

            using var batch = file.Read("batch/ids");
            Assert.True(Same(batch, ids));
            var config = JsonNode.Parse(file.Metadata["config"])!;
            Assert.Equal((2, 4, 2, 32, 8), (config["num_hidden_layers"]!.GetValue<int>(), config["num_attention_heads"]!.GetValue<int>(),
                config["num_key_value_heads"]!.GetValue<int>(), config["hidden_size"]!.GetValue<int>(), config["head_dim"]!.GetValue<int>()));
            Assert.Equal((1e-5, 10000.0), (config["rms_norm_eps"]!.GetValue<double>(), config["rope_theta"]!.GetValue<double>()));

            // alpha 32 over r 16 on all seven projections (14 modules here), no dropout.
            Assert.Equal(2.0, double.Parse(file.Metadata["scaling"], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(7 * Tiny.Layers, peft.AdaptedModules.Count);
            Assert.All(peft.AdaptedModules, m => Assert.Equal(16, m.Layer.GetPath(peft.ActiveAdapter).Rank));
            Assert.Equal("0", file.Metadata["weight_decay"]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ADecoderTheScriptDoesNotImplementIsRefused()
    {
        var model = LlamaArchitecture.Instance.Create(Tiny with { TieWordEmbeddings = false });
        var peft = PeftModel.Create(model, PythonDecoderBench.Adapter());
        var path = Path.Combine(Path.GetTempPath(), $"python-decoder-export-{Guid.NewGuid():N}.safetensors");
        var error = Assert.Throws<ArgumentException>(() => PythonDecoderBench.Export(path, model, peft, zeros(1, 2, dtype: ScalarType.Int64)));
        Assert.Contains("tied embeddings", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();
}
