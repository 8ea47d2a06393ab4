using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// <see cref="CausalLmLoss"/> fused with the output head and computed a chunk of tokens at a time: the
/// logits of one chunk <c>(chunk, vocab)</c> are formed, reduced to their cross-entropy and turned into
/// the gradient of the final hidden states (and of the head weight when it is trained) right away, so
/// the <c>(tokens, vocab)</c> logits, their log-softmax and its gradient never exist at once. Same value
/// and gradients as the head followed by <see cref="CausalLmLoss.Compute"/>, up to float rounding.
/// </summary>
public static class ChunkedCausalLmLoss
{
    /// <summary>Tokens per chunk by default: (512, 49152) fp32 logits are 101 MB; at the SmolLM2 shape 512 beat 256 and 1024 (docs/benchmarks.md).</summary>
    public const int DefaultChunkTokens = 512;

    /// <summary>
    /// The floor of the shifted logits before <c>exp</c>. Logits far below the row's largest (a peaked or
    /// large-scale head: random SmolLM2-shaped weights give gaps of several hundred) make <c>exp</c> return
    /// subnormal floats, which this CPU's exp and GEMM handle many times slower (the head and loss took
    /// 775 instead of 590 ms at the SmolLM2 shape). <c>e^−60 ≈ 8.7e−27</c> is normal, and so are its
    /// products with any weight above 1e−11; a token that far below the largest has a probability under
    /// 1e−26, so the floor moves the row sum by at most vocab × 8.7e−27 relative (2e−21 for a 256k
    /// vocabulary) and each gradient entry by less than 1e−26, far below fp32's 1.2e−7. The target's
    /// log-probability is read before the floor, exactly.
    /// </summary>
    private const float ExpFloor = -60f;

    /// <summary>
    /// Mean next-token cross-entropy of <c>hidden · weightᵀ</c> against <paramref name="labels"/> shifted
    /// by one position (positions labelled <see cref="CausalLmLoss.IgnoreIndex"/> not supervised), the
    /// logits in fp32 whatever the dtype of <paramref name="hidden"/>. Differentiable in
    /// <paramref name="hidden"/> and <paramref name="weight"/>.
    /// </summary>
    /// <param name="hidden">Final hidden states <c>(batch, T, d)</c>.</param>
    /// <param name="weight">The output head <c>(vocab, d)</c> (the embedding table when tied).</param>
    /// <param name="labels">Labels <c>(batch, T)</c>.</param>
    /// <param name="chunkTokens">Tokens whose logits exist at once.</param>
    /// <exception cref="ArgumentException">The shapes do not match, or no label is supervised.</exception>
    public static Tensor Compute(Tensor hidden, Tensor weight, Tensor labels, int chunkTokens = DefaultChunkTokens)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkTokens);
        if (hidden.dim() != 3 || weight.dim() != 2 || labels.dim() != 2 || hidden.shape[0] != labels.shape[0] || hidden.shape[1] != labels.shape[1] || hidden.shape[2] != weight.shape[1])
        {
            throw new ArgumentException($"hidden must be (batch, T, d), weight (vocab, d) and labels (batch, T); got [{string.Join(", ", hidden.shape)}], [{string.Join(", ", weight.shape)}] and [{string.Join(", ", labels.shape)}]", nameof(labels));
        }

        var call = new Call(chunkTokens, hidden.requires_grad, weight.requires_grad);
        if (!is_grad_enabled() || !(call.HiddenGrad || call.WeightGrad))
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            return Run(hidden, weight, labels, call with { HiddenGrad = false, WeightGrad = false }).Loss.MoveToOuterDisposeScope();
        }

        return LossFunction.apply(call, hidden, weight, labels);
    }

    /// <summary>The loss and, as asked, the gradients of the summed token losses (not yet divided by the count).</summary>
    private static (Tensor Loss, Tensor? HiddenGrad, Tensor? WeightGrad, long Count) Run(Tensor hidden, Tensor weight, Tensor labels, Call call)
    {
        var (batch, length, width) = (hidden.shape[0], hidden.shape[1], hidden.shape[2]);
        var h = hidden.narrow(1, 0, length - 1);
        var targets = labels.narrow(1, 1, length - 1).to(ScalarType.Int64);
        var tokens = batch * (length - 1);
        h = h.reshape(tokens, width);
        targets = targets.reshape(tokens);
        var count = targets.ne(CausalLmLoss.IgnoreIndex).sum().item<long>();
        if (count == 0)
        {
            throw new ArgumentException("no label of the batch is supervised (every label is -100)", nameof(labels));
        }

        var total = zeros(1, dtype: ScalarType.Float64, device: hidden.device);
        var flatGrad = call.HiddenGrad ? zeros(tokens, width, dtype: hidden.dtype, device: hidden.device) : null;
        var weightGrad = call.WeightGrad ? zeros(weight.shape, dtype: ScalarType.Float32, device: weight.device) : null;
        var everySupervised = count == tokens;
        var fp32 = hidden.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32;

        // One (chunk, vocab) fp32 buffer serves every chunk: each chunk's logits are written into it and
        // transformed in place, so no tensor of that size is allocated (and page-faulted in) per chunk.
        using var buffer = empty(Math.Min(call.ChunkTokens, tokens), weight.shape[0], dtype: ScalarType.Float32, device: hidden.device);
        for (var start = 0L; start < tokens; start += call.ChunkTokens)
        {
            using var scope = NewDisposeScope();
            var size = Math.Min(call.ChunkTokens, tokens - start);
            var chunk = h.narrow(0, start, size);
            var target = targets.narrow(0, start, size);
            var ignored = everySupervised ? null : target.eq(CausalLmLoss.IgnoreIndex).unsqueeze(1);
            var index = ignored is null ? target.unsqueeze(1) : target.unsqueeze(1).masked_fill(ignored, 0);

            var logits = buffer.narrow(0, 0, size);
            if (fp32)
            {
                logits.addmm_(chunk, weight.t(), beta: 0);
            }
            else
            {
                logits.copy_(nn.functional.linear(chunk, weight));
            }

            // The log-softmax at the target, as cross_entropy computes it: with shifted = logits − row max and
            // E = exp(shifted), log p(target) = shifted[target] − log ΣE. Ignored rows contribute nothing.
            logits.sub_(logits.amax([1L], keepdim: true));
            var picked = logits.gather(1, index);
            var sums = logits.clamp_min_(ExpFloor).exp_().sum(1, keepdim: true);
            var logProbability = picked.sub_(sums.log());
            if (ignored is not null)
            {
                logProbability.masked_fill_(ignored, 0.0);
            }

            total.sub_(logProbability.sum(ScalarType.Float64));
            if (flatGrad is null && weightGrad is null)
            {
                continue;
            }

            // d(Σ token losses)/d logits = E / ΣE − one-hot on supervised rows, 0 on ignored ones. It is
            // applied without being formed: the rows' 1/ΣE scales the small products, and the one-hot picks
            // the target rows of the weight (for the hidden gradient) or of the chunk (for the weight's).
            var inverse = sums.reciprocal_();
            if (ignored is not null)
            {
                inverse.masked_fill_(ignored, 0.0);
            }

            if (flatGrad is not null)
            {
                var rows = flatGrad.narrow(0, start, size);
                var targetRows = weight.index_select(0, index.squeeze(1));
                if (ignored is not null)
                {
                    targetRows.masked_fill_(ignored, 0.0);
                }

                if (fp32)
                {
                    rows.addmm_(logits, weight, beta: 0).mul_(inverse).sub_(targetRows);
                }
                else
                {
                    rows.copy_(matmul(logits.to(weight.dtype), weight).to(ScalarType.Float32).mul_(inverse).sub_(targetRows.to(ScalarType.Float32)));
                }
            }

            if (weightGrad is not null)
            {
                var chunk32 = chunk.to(ScalarType.Float32);
                weightGrad.addmm_(logits.t(), chunk32 * inverse);
                weightGrad.index_add_(0, index.squeeze(1), ignored is null ? chunk32 : chunk32.masked_fill(ignored, 0.0), -1.0);
            }
        }

        Tensor? hiddenGrad = null;
        if (flatGrad is not null)
        {
            // The last position predicts nothing: its gradient is zero.
            hiddenGrad = zeros(batch, length, width, dtype: hidden.dtype, device: hidden.device);
            hiddenGrad.narrow(1, 0, length - 1).copy_(flatGrad.view(batch, length - 1, width));
        }

        var loss = (total / count).to(ScalarType.Float32).squeeze(0);
        return (loss, hiddenGrad, weightGrad, count);
    }

    /// <summary>What the autograd function needs besides its tensor inputs.</summary>
    private sealed record Call(int ChunkTokens, bool HiddenGrad, bool WeightGrad);

    /// <summary>The autograd function: the forward computes the loss and the gradients; the backward scales them by the incoming gradient.</summary>
    private sealed class LossFunction : autograd.SingleTensorFunction<LossFunction>
    {
        private const string CallKey = "call";

        public override string Name => "ChunkedCausalLmLoss";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var call = (Call)vars[0];
            var (loss, hiddenGrad, weightGrad, count) = Run((Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], call);
            ctx.save_for_backward([hiddenGrad ?? empty(0), weightGrad ?? empty(0)]);
            ctx.save_data(CallKey, (call, count, ((Tensor)vars[2]).dtype));
            return loss;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var (call, count, weightType) = ((Call, long, ScalarType))ctx.get_data(CallKey);
            using var scope = NewDisposeScope();
            var saved = ctx.get_saved_variables();
            var factor = grad_output.to(ScalarType.Float32) / count;
            var hidden = call.HiddenGrad ? (saved[0] * factor.to(saved[0].dtype)).MoveToOuterDisposeScope() : null!;
            var weight = call.WeightGrad ? (saved[1] * factor).to(weightType).MoveToOuterDisposeScope() : null!;
            return [null!, hidden, weight, null!];
        }
    }
}
