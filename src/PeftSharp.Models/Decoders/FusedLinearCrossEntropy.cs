using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// The summed cross-entropy of a frozen linear output head, <c>Σ CE(hidden · Wᵀ, target)</c>, without the
/// <c>(tokens, vocabulary)</c> logits ever existing whole (Liger-Kernel's fused linear cross-entropy): the
/// forward walks the tokens in chunks, computing each chunk's logits, its loss and at once its gradient
/// with respect to the hidden states, <c>(softmax − onehot) · W</c>; only that gradient (tokens × hidden)
/// is kept for the backward. At a 49k vocabulary and 1,024 tokens the unfused loss holds about 0.6 GB
/// (logits, their log-softmax and gradients, in fp32); this holds one chunk's.
/// </summary>
/// <remarks>
/// The logits are computed in the dtype of <c>hidden</c> and <c>weight</c> and the softmax in fp32, as
/// <c>cross_entropy(logits.float())</c> does; the hidden-state gradient is formed in their dtype, as
/// autograd forms it. The weight must be frozen (no gradient is computed for it): a trainable head goes
/// through its module and the plain loss.
/// </remarks>
public static class FusedLinearCrossEntropy
{
    /// <summary>Logits held per chunk: about 8 M elements (32 MB in fp32), at least 16 tokens.</summary>
    private const long ChunkElements = 1L << 23;

    /// <summary>
    /// The cross-entropy summed over the tokens whose target is not <paramref name="ignoreIndex"/>, as an
    /// fp32 scalar with gradient to <paramref name="hidden"/> when it requires one.
    /// </summary>
    /// <param name="hidden">Hidden states <c>(tokens, hidden)</c>.</param>
    /// <param name="weight">The frozen head <c>(vocabulary, hidden)</c>, same dtype as <paramref name="hidden"/>.</param>
    /// <param name="targets">Target ids <c>(tokens)</c>; <paramref name="ignoreIndex"/> marks tokens without a loss.</param>
    /// <param name="ignoreIndex">The target of unsupervised tokens (PyTorch's −100).</param>
    /// <param name="chunkTokens">Tokens per chunk; 0: as many as keep a chunk's logits near 8 M elements.</param>
    /// <exception cref="ArgumentException">The shapes or dtypes do not fit, or the weight requires gradient.</exception>
    public static Tensor Sum(Tensor hidden, Tensor weight, Tensor targets, long ignoreIndex = -100, int chunkTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(targets);
        if (hidden.dim() != 2 || weight.dim() != 2 || targets.dim() != 1 || hidden.shape[1] != weight.shape[1] || targets.shape[0] != hidden.shape[0])
        {
            throw new ArgumentException($"hidden must be (tokens, hidden), weight (vocabulary, hidden) and targets (tokens); got [{string.Join(", ", hidden.shape)}], [{string.Join(", ", weight.shape)}] and [{string.Join(", ", targets.shape)}]", nameof(targets));
        }

        if (hidden.dtype != weight.dtype)
        {
            throw new ArgumentException($"hidden ({hidden.dtype}) and weight ({weight.dtype}) must share a dtype", nameof(weight));
        }

        if (weight.requires_grad)
        {
            throw new ArgumentException("the fused loss computes no gradient for the head weight: it must be frozen", nameof(weight));
        }

        var chunk = chunkTokens > 0 ? chunkTokens : (int)Math.Max(16, ChunkElements / Math.Max(1, weight.shape[0]));
        var call = new Call(ignoreIndex, chunk);
        return is_grad_enabled() && hidden.requires_grad
            ? FusedFunction.apply(call, hidden, weight, targets)
            : Compute(hidden, weight, targets, call, withGradient: false).Loss;
    }

    /// <summary>The loss sum and, with <paramref name="withGradient"/>, its gradient with respect to <paramref name="hidden"/>, chunk by chunk.</summary>
    private static (Tensor Loss, Tensor? Gradient) Compute(Tensor hidden, Tensor weight, Tensor targets, Call call, bool withGradient)
    {
        using var noGrad = no_grad();
        var tokens = hidden.shape[0];
        var loss = zeros([], ScalarType.Float32, hidden.device);
        var gradient = withGradient ? empty_like(hidden) : null;
        for (long start = 0; start < tokens; start += call.Chunk)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(call.Chunk, tokens - start);
            var logits = nn.functional.linear(hidden.narrow(0, start, length), weight).to(ScalarType.Float32);
            var target = targets.narrow(0, start, length).to(ScalarType.Int64);
            var valid = target.ne(call.IgnoreIndex);
            var index = target.masked_fill(valid.logical_not(), 0).unsqueeze(1);
            var logSumExp = logits.logsumexp(1, keepdim: true);
            var picked = logits.gather(1, index);
            loss.add_(((logSumExp - picked).squeeze(1) * valid).sum());
            if (gradient is not null)
            {
                // d(loss)/d(logits) = softmax − onehot(target) on supervised rows, 0 on the others.
                var probabilities = logits.sub_(logSumExp).exp_();
                probabilities.scatter_add_(1, index, full([length, 1], -1f, ScalarType.Float32, hidden.device));
                probabilities.mul_(valid.unsqueeze(1));
                gradient.narrow(0, start, length).copy_(matmul(probabilities.to(hidden.dtype), weight));
            }
        }

        return (loss, gradient);
    }

    /// <summary>The non-tensor arguments.</summary>
    private sealed record Call(long IgnoreIndex, long Chunk);

    /// <summary>The autograd function: the forward keeps only the hidden-state gradient, the backward scales it.</summary>
    private sealed class FusedFunction : autograd.SingleTensorFunction<FusedFunction>
    {
        private const string CallKey = "call";

        public override string Name => "FusedLinearCrossEntropy";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var call = (Call)vars[0];
            var (loss, gradient) = Compute((Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], call, withGradient: true);
            ctx.save_for_backward([gradient!]);
            ctx.save_data(CallKey, call);
            return loss;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            using var scope = NewDisposeScope();
            var gradient = ctx.get_saved_variables()[0];
            var scaled = gradient * grad_output.to(gradient.dtype);
            var result = new List<Tensor> { null!, scaled, null!, null! };
            scaled.MoveToOuterDisposeScope();
            return result;
        }
    }
}
