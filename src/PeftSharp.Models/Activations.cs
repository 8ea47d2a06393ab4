using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>The activation functions Hugging Face configs name.</summary>
public static class Activations
{
    /// <summary>The activation names PeftSharp implements.</summary>
    internal static readonly string[] Known = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh", "silu", "swish"];

    /// <summary>Applies activation <paramref name="name"/> to <paramref name="x"/>.</summary>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "gelu" => nn.functional.gelu(x),
        "gelu_new" or "gelu_pytorch_tanh" => GeluTanh(x),
        "relu" => nn.functional.relu(x),
        "tanh" => x.tanh(),
        "silu" or "swish" => nn.functional.silu(x),
        _ => throw new ArgumentException($"unknown activation '{name}'", nameof(name)),
    };

    internal static void Check(string name, ConfigJson json, string field)
    {
        if (!Known.Contains(name))
        {
            throw json.Error(field, $"activation '{name}' is not supported ({string.Join(", ", Known)})");
        }
    }

    /// <summary>GPT-2's <c>gelu_new</c>: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), libtorch's tanh-approximate GELU.</summary>
    private static Tensor GeluTanh(Tensor x) => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh);
}
