using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>One encoder-shaped layer: query, key and value projections (injectable fields) and a mixing step.</summary>
internal sealed class ContractLayer : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> query;
    private readonly nn.Module<Tensor, Tensor> key;
    private readonly nn.Module<Tensor, Tensor> value;

    public ContractLayer(int d) : base(nameof(ContractLayer))
    {
        query = nn.Linear(d, d);
        key = nn.Linear(d, d);
        value = nn.Linear(d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var mixed = nn.functional.tanh(query.forward(input)) * nn.functional.sigmoid(key.forward(input)) + value.forward(input);
        return (input + mixed).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A small model with the module names the methods' encoder presets target (<c>layers.N.query</c>,
/// <c>layers.N.value</c>, <c>pooler</c>, <c>classifier</c>), so every registered method injects into it
/// with its own training preset.
/// </summary>
internal sealed class ContractModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> layers;
    private readonly nn.Module<Tensor, Tensor> pooler;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public ContractModel(int d = 12, int layerCount = 3, int labels = 3) : base(nameof(ContractModel))
    {
        layers = nn.ModuleList<nn.Module<Tensor, Tensor>>([.. Enumerable.Range(0, layerCount).Select(_ => (nn.Module<Tensor, Tensor>)new ContractLayer(d))]);
        pooler = nn.Linear(d, d);
        classifier = nn.Linear(d, labels);
        RegisterComponents();
    }

    /// <summary>Class logits for <c>(batch, tokens, d)</c> inputs.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var h = input;
        foreach (var layer in layers)
        {
            h = layer.forward(h);
        }

        var pooled = nn.functional.tanh(pooler.forward(h.mean([1L])));
        return classifier.forward(pooled).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Tiny random decoders for the decoder contract: a Llama (GQA, so k/v are narrower than q and o,
/// tied embeddings) and a Phi-3 (fused <c>qkv_proj</c> and <c>gate_up_proj</c>, untied head).
/// </summary>
internal static class ContractDecoders
{
    public const int Vocabulary = 48;

    public static TheoryData<string> Architectures() => ["llama", "phi3"];

    /// <summary>The <c>config.json</c> of architecture <paramref name="modelType"/>.</summary>
    public static System.Text.Json.Nodes.JsonObject Config(string modelType) => new()
    {
        ["architectures"] = new System.Text.Json.Nodes.JsonArray(modelType == "phi3" ? "Phi3ForCausalLM" : "LlamaForCausalLM"),
        ["model_type"] = modelType, ["vocab_size"] = Vocabulary, ["hidden_size"] = 32, ["intermediate_size"] = 40, ["num_hidden_layers"] = 2,
        ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-5,
        ["eos_token_id"] = 2, ["bos_token_id"] = 1, ["rope_theta"] = 10000.0, ["tie_word_embeddings"] = modelType != "phi3",
        ["hidden_act"] = "silu", ["torch_dtype"] = "float32",
    };

    /// <summary>A decoder with seeded random weights (embeddings scaled so the logits are not flat).</summary>
    public static PeftSharp.Models.Decoders.DecoderForCausalLM Create(string modelType, long seed = 7)
    {
        manual_seed(seed);
        var model = (PeftSharp.Models.Decoders.DecoderForCausalLM)PeftSharp.Models.PretrainedModel.Create(new PeftSharp.IO.ConfigJson(Config(modelType), "config.json"));
        model.eval();
        return model;
    }

    /// <summary>Token ids <c>(batch, T)</c> in the vocabulary.</summary>
    public static Tensor Ids(long seed = 5, long batch = 4, long length = 10) =>
        randint(3, Vocabulary, [batch, length], generator: new Generator((ulong)seed));
}

/// <summary>A decoder seen as <c>ids → logits</c> (for <c>LossTask</c>).</summary>
internal sealed class DecoderLogits : nn.Module<Tensor, Tensor>
{
    private readonly PeftSharp.Models.Decoders.DecoderForCausalLM decoder;

    public DecoderLogits(PeftSharp.Models.Decoders.DecoderForCausalLM model) : base(nameof(DecoderLogits))
    {
        decoder = model;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => decoder.Forward(input);
}
