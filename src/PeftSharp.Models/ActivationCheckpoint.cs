using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>
/// Activation checkpointing (PyTorch's <c>torch.utils.checkpoint</c>, which TorchSharp lacks), built on a
/// custom autograd function: the forward runs without recording a graph and keeps only the block's
/// input, the auxiliary tensors and the random-number state; the backward recomputes the block with
/// gradient enabled under the same random-number state (so dropout draws the same masks) and
/// back-propagates the incoming gradient, returning the input's gradient and the trainable
/// parameters' gradients, which autograd accumulates as usual.
/// </summary>
/// <remarks>
/// The replayed state is the default CPU generator's (the one <c>nn.Dropout</c> and SDPA's dropout draw
/// from); a block drawing from its own <see cref="torch.Generator"/> or from a device generator would not
/// be replayed. The recomputation runs inside libtorch's backward through a native callback, where an
/// exception cannot be propagated to the caller: the block must not fail the second time it runs on the
/// inputs it already accepted once.
/// </remarks>
public static class ActivationCheckpoint
{
    /// <summary>
    /// Runs <paramref name="block"/> on <paramref name="input"/> with its activations recomputed in the
    /// backward instead of kept. Outside a gradient-recording context it simply calls the block.
    /// </summary>
    /// <param name="block">
    /// The computation: given the input and <paramref name="auxiliary"/> (the same tensors, possibly
    /// through new handles), returns the output. It must be deterministic up to the default generator's
    /// draws, and must not have side effects that cannot run twice (a KV cache, for example).
    /// </param>
    /// <param name="input">The block's input (gradient flows back to it when it requires gradient).</param>
    /// <param name="auxiliary">Tensors the block reads but that need no gradient (RoPE tables, masks); null entries allowed.</param>
    /// <param name="parameters">
    /// The trainable tensors the block uses (every parameter requiring gradient inside it). Gradients reach
    /// only these and <paramref name="input"/>.
    /// </param>
    public static Tensor Run(Func<Tensor, IReadOnlyList<Tensor?>, Tensor> block, Tensor input, IReadOnlyList<Tensor?> auxiliary, IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(block);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(auxiliary);
        ArgumentNullException.ThrowIfNull(parameters);
        var trainable = Distinct(parameters.Where(p => p.requires_grad));
        if (!is_grad_enabled() || (!input.requires_grad && trainable.Count == 0))
        {
            return block(input, auxiliary);
        }

        var arguments = new object[trainable.Count + 2];
        arguments[0] = new Call(block, auxiliary, trainable, input.requires_grad);
        arguments[1] = input;
        for (var i = 0; i < trainable.Count; i++)
        {
            arguments[i + 2] = trainable[i];
        }

        return CheckpointFunction.apply(arguments);
    }

    private static List<Tensor> Distinct(IEnumerable<Tensor> tensors)
    {
        var seen = new HashSet<IntPtr>();
        var result = new List<Tensor>();
        foreach (var tensor in tensors)
        {
            // Tied parameters are registered in several modules: one input each, or their gradient would be counted twice.
            if (seen.Add(tensor.Handle))
            {
                result.Add(tensor);
            }
        }

        return result;
    }

    /// <summary>What the autograd function needs besides its tensor inputs.</summary>
    private sealed record Call(Func<Tensor, IReadOnlyList<Tensor?>, Tensor> Block, IReadOnlyList<Tensor?> Auxiliary, IReadOnlyList<Tensor> Parameters, bool InputRequiresGrad);

    /// <summary>The autograd function (TorchSharp keeps one instance; per-call state lives in the context).</summary>
    private sealed class CheckpointFunction : autograd.SingleTensorFunction<CheckpointFunction>
    {
        private const string CallKey = "call";

        public override string Name => "ActivationCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            // TorchSharp runs this with gradient disabled: no graph of the block is recorded.
            var call = (Call)vars[0];
            var input = (Tensor)vars[1];
            var state = get_rng_state();
            var output = call.Block(input, call.Auxiliary);
            var saved = new List<Tensor>(call.Auxiliary.Count + 2) { input, state };
            saved.AddRange(call.Auxiliary!);
            ctx.save_for_backward(saved);
            ctx.save_data(CallKey, call with { Auxiliary = [] });
            return output;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var call = (Call)ctx.get_data(CallKey);
            using var scope = NewDisposeScope();
            var saved = ctx.get_saved_variables();
            var input = saved[0].detach().requires_grad_(call.InputRequiresGrad);
            var auxiliary = saved.Skip(2).ToList();
            var current = get_rng_state();
            Tensor output;
            set_rng_state(saved[1]);
            try
            {
                using var grad = enable_grad();
                output = call.Block(input, auxiliary!);
            }
            finally
            {
                set_rng_state(current);
            }

            var targets = new List<Tensor>(call.Parameters.Count + 1);
            if (call.InputRequiresGrad)
            {
                targets.Add(input);
            }

            targets.AddRange(call.Parameters);
            var grads = autograd.grad([output], targets, [grad_output], allow_unused: true);

            // One entry per forward argument: none for the call, then the input and each parameter.
            var offset = call.InputRequiresGrad ? 1 : 0;
            var result = new List<Tensor> { null!, call.InputRequiresGrad ? Defined(grads[0]) : null! };
            for (var i = 0; i < call.Parameters.Count; i++)
            {
                result.Add(Defined(grads[i + offset]));
            }

            // Autograd takes its own reference when this returns; the handles go with the caller's scope.
            foreach (var tensor in result)
            {
                tensor?.MoveToOuterDisposeScope();
            }

            return result;
        }

        private static Tensor Defined(Tensor tensor) => tensor.IsInvalid ? null! : tensor;
    }
}
