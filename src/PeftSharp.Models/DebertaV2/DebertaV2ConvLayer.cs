using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// DeBERTa-v2's optional convolution after the first layer (<c>conv_kernel_size</c> &gt; 0):
/// <c>LayerNorm(residual + act(dropout(conv(embeddings))))</c> with padded positions zeroed.
/// </summary>
public sealed class DebertaV2ConvLayer : nn.Module
{
    private readonly Conv1d conv;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
    private readonly string _activation;

    /// <summary>Creates the convolution.</summary>
    public DebertaV2ConvLayer(DebertaV2Config config) : base(nameof(DebertaV2ConvLayer))
    {
        ArgumentNullException.ThrowIfNull(config);
        conv = nn.Conv1d(config.HiddenSize, config.HiddenSize, config.ConvKernelSize, padding: (config.ConvKernelSize - 1) / 2, groups: config.ConvGroups);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropout);
        _activation = config.ConvAct;
        RegisterComponents();
    }

    /// <summary>Mixes the encoder input <paramref name="embedded"/> into the first layer's output <paramref name="residual"/>; <paramref name="mask"/> is <c>(batch, T)</c> or null.</summary>
    public Tensor Forward(Tensor embedded, Tensor residual, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var output = conv.forward(embedded.permute(0, 2, 1)).permute(0, 2, 1);
        var keep = mask?.unsqueeze(-1).to(output.dtype);
        if (keep is not null)
        {
            output = output * keep;
        }

        output = Activations.Apply(_activation, dropout.forward(output));
        output = LayerNorm.forward(residual + output);
        if (keep is not null)
        {
            output = output * keep;
        }

        return output.MoveToOuterDisposeScope();
    }
}
