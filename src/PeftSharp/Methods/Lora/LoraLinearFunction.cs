using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Lora;

/// <summary>
/// A LoRA-adapted linear layer's training forward and backward as one autograd node:
/// <c>y = x·Wᵀ + b + z·Bᵀ</c>, <c>z = s·x·Aᵀ</c>, with the frozen <c>W</c>, <c>b</c>. Autograd's own graph of
/// the same computation records several nodes and sums the two parts of <c>dX</c> in a separate
/// full-size addition; here the backward computes <c>dZ = s·g·B</c>, <c>dB = gᵀ·z</c>, <c>dA = dZᵀ·x</c>
/// and <c>dX = g·W + dZ·A</c>, the second term accumulated into the first by one <c>addmm_</c>. On a
/// bf16/fp16 base with fp32 factors it keeps the narrow input for the backward instead of a widened copy.
/// </summary>
/// <remarks>
/// No dropout on the LoRA branch (the path uses this kernel only when its dropout is inactive) and the
/// frozen weight and bias receive no gradient. TorchSharp's autograd function keeps an uninitialised
/// tensor of the output's size per node until the graph is freed.
/// </remarks>
internal sealed class LoraLinearFunction : autograd.SingleTensorFunction<LoraLinearFunction>
{
    private const string CallKey = "call";

    /// <inheritdoc />
    public override string Name => "LoraLinear";

    /// <summary>
    /// The adapted layer's output for <paramref name="input"/> <c>(tokens, in)</c>.
    /// </summary>
    /// <param name="input">The layer input, 2-D.</param>
    /// <param name="weight">The frozen weight, <c>(out, in)</c>, or <c>(in, out)</c> with <paramref name="fanInFanOut"/>.</param>
    /// <param name="fanInFanOut">True when <paramref name="weight"/> is stored transposed (GPT-2's Conv1D).</param>
    /// <param name="bias">The frozen bias, or null.</param>
    /// <param name="a">LoRA's down projection <c>(r, in)</c>.</param>
    /// <param name="b">LoRA's up projection <c>(out, r)</c>.</param>
    /// <param name="scaling">The scaling <c>s</c>.</param>
    public static Tensor Apply(Tensor input, Tensor weight, bool fanInFanOut, Tensor? bias, Tensor a, Tensor b, double scaling) =>
        apply(new Call(weight, fanInFanOut, bias, scaling, input.requires_grad, a.requires_grad, b.requires_grad), input, a, b);

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var call = (Call)vars[0];
        var (input, a, b) = ((Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3]);
        using var scope = NewDisposeScope();
        // The frozen layer's own operations: Linear's addmm, Conv1D's product then bias.
        var output = call.FanInFanOut ? mm(input, call.Weight) : call.Bias is null ? mm(input, call.Weight.t()) : call.Bias.addmm(input, call.Weight.t());
        if (call.FanInFanOut && call.Bias is not null)
        {
            output.add_(call.Bias);
        }

        // The same operations as the graph's forward (s·(x·Aᵀ), then accumulated through Bᵀ): bit-identical output.
        // On a lower-precision base (bf16/fp16 input and weight, fp32 factors) the input is widened only for
        // this product and not kept: the node saves the narrow input, which the graph would keep widened.
        var z = mm(input.dtype == a.dtype ? input : input.to(a.dtype), a.t()).mul_(call.Scaling);
        if (output.dtype == b.dtype)
        {
            output.addmm_(z, b.t());
        }
        else
        {
            // Added in the wider type and rounded once, as the graph (and PEFT) does.
            output = (output + mm(z, b.t())).to(output.dtype);
        }

        // TorchSharp saves the tensors after this returns: z must outlive this scope (the caller's scope frees its handle).
        ctx.save_for_backward([input, z.MoveToOuterDisposeScope(), a, b]);
        ctx.save_data(CallKey, call);
        return output.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var call = (Call)ctx.get_data(CallKey);
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var (input, z, a, b) = (saved[0], saved[1], saved[2], saved[3]);
        var wideGrad = grad_output.dtype == b.dtype ? grad_output : grad_output.to(b.dtype);
        var dz = mm(wideGrad, b).mul_(call.Scaling);
        var gradB = call.BNeedsGrad ? mm(wideGrad.t(), z) : null;
        var gradA = call.ANeedsGrad ? mm(dz.t(), input.dtype == dz.dtype ? input : input.to(dz.dtype)) : null;
        Tensor? gradInput = null;
        if (call.InputNeedsGrad)
        {
            gradInput = mm(grad_output, call.FanInFanOut ? call.Weight.t() : call.Weight);
            if (gradInput.dtype == dz.dtype)
            {
                gradInput.addmm_(dz, a);
            }
            else
            {
                gradInput.add_(mm(dz, a).to(gradInput.dtype));
            }
        }

        // One entry per forward argument: none for the call, then the input, A and B.
        var result = new List<Tensor> { null!, gradInput!, gradA!, gradB! };

        // Autograd takes its own reference when this returns; the handles go with the caller's scope.
        foreach (var tensor in result)
        {
            tensor?.MoveToOuterDisposeScope();
        }

        return result;
    }

    /// <summary>What the function needs besides its tensor inputs (the frozen tensors need no gradient edge).</summary>
    private sealed record Call(Tensor Weight, bool FanInFanOut, Tensor? Bias, double Scaling, bool InputNeedsGrad, bool ANeedsGrad, bool BNeedsGrad);
}
