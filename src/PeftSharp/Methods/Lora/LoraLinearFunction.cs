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
/// <para>
/// With <c>merged</c> (same dtype throughout, many tokens) the skinny rank-r products leave the token
/// dimension: the forward is one GEMM against <c>W' = W + s·B·A</c> (an <c>out × in</c> matrix built per
/// call, never kept), and the backward's <c>dX = g·W'</c> is one GEMM too, since <c>dZ·A = s·g·B·A</c>. Only
/// <c>dB</c> and <c>dA</c> still read the activations (<c>z</c> is recomputed there, not saved). Building
/// <c>W'</c> costs two passes over a weight-sized matrix per call; it replaces two passes over the
/// <c>tokens × out</c> output and two over the <c>tokens × in</c> input gradient; <c>LoraPath</c> picks
/// the form per shape from side-by-side measurements. The output equals the unmerged one up to float
/// rounding (not bit for bit).
/// </para>
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
    /// <param name="merged">Run the products against the merged weight <c>W + s·B·A</c> (all tensors one dtype).</param>
    public static Tensor Apply(Tensor input, Tensor weight, bool fanInFanOut, Tensor? bias, Tensor a, Tensor b, double scaling, bool merged = false) =>
        apply(new Call(weight, fanInFanOut, bias, scaling, input.requires_grad, a.requires_grad, b.requires_grad, merged), input, a, b);

    /// <summary>
    /// The frozen weight with the scaled low-rank product added, in the weight's layout: <c>W + s·B·A</c>,
    /// or <c>W + s·Aᵀ·Bᵀ</c> when stored transposed.
    /// </summary>
    private static Tensor MergedWeight(Call call, Tensor a, Tensor b) => call.FanInFanOut
        ? call.Weight.addmm(a.t(), b.mul(call.Scaling).t())
        : call.Weight.addmm(b.mul(call.Scaling), a);

    /// <summary>
    /// <c>x·Wᵀ</c> (+ bias) for a weight in the layer's layout, with the frozen layer's own operations:
    /// Linear's <c>addmm</c>, Conv1D's product then bias.
    /// </summary>
    private static Tensor Product(Call call, Tensor input, Tensor weight)
    {
        if (!call.FanInFanOut)
        {
            return call.Bias is null ? mm(input, weight.t()) : call.Bias.addmm(input, weight.t());
        }

        var output = mm(input, weight);
        return call.Bias is null ? output : output.add_(call.Bias);
    }

    /// <summary>The backward's result: one entry per forward argument (none for the call, then the input, A and B).</summary>
    private static List<Tensor> Gradients(Tensor? input, Tensor? a, Tensor? b)
    {
        var result = new List<Tensor> { null!, input!, a!, b! };

        // Autograd takes its own reference when this returns; the handles go with the caller's scope.
        foreach (var tensor in result)
        {
            tensor?.MoveToOuterDisposeScope();
        }

        return result;
    }

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var call = (Call)vars[0];
        var (input, a, b) = ((Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3]);
        using var scope = NewDisposeScope();
        if (call.Merged)
        {
            var merged = Product(call, input, MergedWeight(call, a, b));
            ctx.save_for_backward([input, a, b]);
            ctx.save_data(CallKey, call);
            return merged.MoveToOuterDisposeScope();
        }

        var output = Product(call, input, call.Weight);

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
        if (call.Merged)
        {
            return MergedBackward(call, grad_output, saved[0], saved[1], saved[2]);
        }

        var (input, z, a, b) = (saved[0], saved[1], saved[2], saved[3]);
        var wideGrad = grad_output.dtype == b.dtype ? grad_output : grad_output.to(b.dtype);
        var dz = UpGradient(wideGrad, b, call.Scaling);
        // dB as (zᵀ·g)ᵀ: the same product, but BLAS runs this layout of the tokens-long reduction several
        // times faster than gᵀ·z at some shapes (1.4 ms against 0.3 ms at 2048 tokens, 768 → 768, r 8).
        var gradB = call.BNeedsGrad ? mm(z.t(), wideGrad).t() : null;
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

        return Gradients(gradInput, gradA, gradB);
    }

    /// <summary>
    /// <c>dZ = s·g·B</c>, <c>(tokens, r)</c>. Below rank 16 it is computed as <c>(Bᵀ·gᵀ)ᵀ</c> (a transposed
    /// view): BLAS runs that layout about twice as fast for a narrow <c>r</c> (0.28 against 0.61 ms at
    /// 2,048 tokens, 768 outputs, r 8) and the plain one faster from r 16 (measured for r 4–32).
    /// </summary>
    private static Tensor UpGradient(Tensor grad, Tensor b, double scaling) => b.size(1) < 16
        ? mm(b.t(), grad.t()).mul_(scaling).t()
        : mm(grad, b).mul_(scaling);

    /// <summary>The backward of the merged form: <c>dX = g·W'</c>, <c>dB = gᵀ·z</c>, <c>dA = dZᵀ·x</c> with <c>z = s·x·Aᵀ</c>, <c>dZ = s·g·B</c>.</summary>
    private static List<Tensor> MergedBackward(Call call, Tensor grad, Tensor input, Tensor a, Tensor b)
    {
        var gradB = call.BNeedsGrad ? mm(mm(input, a.t()).mul_(call.Scaling).t(), grad).t() : null;
        var gradA = call.ANeedsGrad ? mm(UpGradient(grad, b, call.Scaling).t(), input) : null;
        Tensor? gradInput = null;
        if (call.InputNeedsGrad)
        {
            var merged = MergedWeight(call, a, b);
            gradInput = mm(grad, call.FanInFanOut ? merged.t() : merged);
        }

        return Gradients(gradInput, gradA, gradB);
    }

    /// <summary>What the function needs besides its tensor inputs (the frozen tensors need no gradient edge).</summary>
    private sealed record Call(Tensor Weight, bool FanInFanOut, Tensor? Bias, double Scaling, bool InputNeedsGrad, bool ANeedsGrad, bool BNeedsGrad, bool Merged);
}
