using PeftSharp.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// What an adapter needs to know about the frozen linear layer it wraps: its sizes, its weight and
/// bias, and whether the weight is stored <c>(in, out)</c> (<c>fan_in_fan_out</c>, GPT-2's Conv1D).
/// </summary>
public sealed class LinearTarget
{
    private LinearTarget(nn.Module<Tensor, Tensor> module, int inFeatures, int outFeatures, Parameter weight, Parameter? bias, bool fanInFanOut)
    {
        Module = module;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = weight;
        Bias = bias;
        FanInFanOut = fanInFanOut;
    }

    /// <summary>The wrapped module.</summary>
    public nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }

    /// <summary>Output features.</summary>
    public int OutFeatures { get; }

    /// <summary>The base weight, <c>(out, in)</c>, or <c>(in, out)</c> when <see cref="FanInFanOut"/>.</summary>
    public Parameter Weight { get; }

    /// <summary>The base bias, or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>True when the weight is stored transposed, <c>(in, out)</c>.</summary>
    public bool FanInFanOut { get; }

    /// <summary>True for the module types adapters can wrap: <see cref="Linear"/> and <see cref="Conv1D"/>.</summary>
    public static bool IsSupported(nn.Module module) => module is Linear or Conv1D;

    /// <summary>Describes <paramref name="module"/>; null when it is not a supported linear layer.</summary>
    public static LinearTarget? TryDescribe(nn.Module module)
    {
        switch (module)
        {
            case Linear linear:
                {
                    var shape = linear.weight!.shape;
                    return new LinearTarget(linear, (int)shape[1], (int)shape[0], linear.weight!, linear.bias, fanInFanOut: false);
                }

            case Conv1D conv:
                return new LinearTarget(conv, conv.InFeatures, conv.OutFeatures, conv.Weight, conv.Bias, fanInFanOut: true);
            default:
                return null;
        }
    }
}
