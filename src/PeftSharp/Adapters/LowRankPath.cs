using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// A low-rank path: the method-specific part of an <see cref="AdapterLayer"/>. Its forward returns
/// only the increment <c>ΔW·x</c> (already scaled); the layer adds it to the frozen base output.
/// Every method (LoRA, DyLoRA, AdaLoRA, SoRA, SARA, Tied-LoRA) implements one.
/// </summary>
public abstract class LowRankPath : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates a path for a layer of the given sizes.</summary>
    protected LowRankPath(string name, int inFeatures, int outFeatures) : base(name)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(inFeatures), $"layer sizes must be positive, got in={inFeatures}, out={outFeatures}");
        }

        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    /// <summary>Input features of the adapted layer.</summary>
    public int InFeatures { get; }

    /// <summary>Output features of the adapted layer.</summary>
    public int OutFeatures { get; }

    /// <summary>The rank the forward uses now (for adaptive methods, the number of live components).</summary>
    public abstract int Rank { get; }

    /// <summary>
    /// The components that contribute now: <see cref="Rank"/> unless the method prunes inside the
    /// path during training (AdaLoRA's kept triplets, SoRA's non-zero gates). Cheap: no device sync.
    /// The trainer logs it to <c>ranks.jsonl</c> whenever it changes.
    /// </summary>
    public virtual int EffectiveRank => Rank;

    /// <summary>The effective scaling <c>s_eff</c> the forward applies now.</summary>
    public abstract double Scaling { get; }

    /// <summary>
    /// Returns <paramref name="baseOutput"/> plus this path's increment for <paramref name="input"/>.
    /// Both are 2-D, <c>(tokens, out)</c> and <c>(tokens, in)</c>. The caller owns
    /// <paramref name="baseOutput"/> and allows it to be updated in place (it is the fresh output of
    /// the frozen layer), which lets a path fuse the addition into its last matmul.
    /// </summary>
    public virtual Tensor AddDelta(Tensor baseOutput, Tensor input)
    {
        using var scope = NewDisposeScope();
        var delta = forward(input);
        // An fp32 increment on a bf16/fp16 base is added in the wider type and rounded once, as PEFT does.
        var sum = delta.dtype == baseOutput.dtype ? baseOutput + delta : (baseOutput + delta).to(baseOutput.dtype);
        return sum.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// True for variants whose increment depends on the frozen layer's own output (DoRA rescales it):
    /// the layer then passes the clean base output — before any path added to it — to
    /// <see cref="AddDelta(Tensor, Tensor, Tensor)"/>.
    /// </summary>
    public virtual bool NeedsBaseOutput => false;

    /// <summary>
    /// <see cref="AddDelta(Tensor, Tensor)"/> for paths that declare <see cref="NeedsBaseOutput"/>:
    /// <paramref name="baseOutput"/> is the frozen layer's output for <paramref name="input"/> (bias
    /// included), which the path must read before it updates <paramref name="output"/> (they may be the
    /// same tensor).
    /// </summary>
    public virtual Tensor AddDelta(Tensor output, Tensor input, Tensor baseOutput) => AddDelta(output, input);

    /// <summary>
    /// The adapted layer's whole output <c>base(x) + ΔW·x</c> for <paramref name="input"/> <c>(tokens, in)</c>,
    /// computed by the path from the frozen layer's tensors (<paramref name="target"/>) when it has a faster
    /// kernel for this call than the frozen layer followed by <see cref="AddDelta(Tensor, Tensor)"/>; null
    /// (the default) otherwise. The layer asks only when this path is its one pending path and does not
    /// need the base output.
    /// </summary>
    public virtual Tensor? FusedForward(LinearTarget target, Tensor input) => null;

    /// <summary>False for paths whose increment depends on the input (for example a token router): they cannot be merged.</summary>
    public virtual bool SupportsMerge => true;

    /// <summary>
    /// Folds this path into <paramref name="weight"/>, the base weight as an <c>(out, in)</c> view,
    /// in place. By default adds <see cref="DeltaWeight"/>; a variant whose merge is not additive (DoRA)
    /// overrides this and <see cref="UnmergeFrom"/> together, keeping what it needs to undo the merge.
    /// </summary>
    public virtual void MergeInto(Tensor weight)
    {
        using var scope = NewDisposeScope();
        AddInFloat32(weight, DeltaWeight());
    }

    /// <summary>Undoes <see cref="MergeInto"/> on <paramref name="weight"/> (an <c>(out, in)</c> view), in place.</summary>
    public virtual void UnmergeFrom(Tensor weight)
    {
        using var scope = NewDisposeScope();
        AddInFloat32(weight, DeltaWeight().neg());
    }

    /// <summary>
    /// <c>weight += delta</c>, summed in float32 and rounded once when the weight is held in half precision
    /// (PEFT #1388: adding a bf16-rounded ΔW to a bf16 weight rounds twice).
    /// </summary>
    protected static void AddInFloat32(Tensor weight, Tensor delta)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(delta);
        if (weight.dtype is ScalarType.BFloat16 or ScalarType.Float16)
        {
            using var sum = weight.to(ScalarType.Float32).add_(delta.to(ScalarType.Float32));
            weight.copy_(sum);
        }
        else
        {
            weight.add_(delta.to(weight.dtype));
        }
    }

    /// <summary>
    /// Null when <see cref="ToPlainLora()"/> reproduces <see cref="DeltaWeight"/> exactly; otherwise why
    /// the path is not a plain LoRA (for example DoRA's magnitude rescaling), which export reports.
    /// </summary>
    public virtual string? PlainLoraExportProblem => null;

    /// <summary>
    /// The increment <c>ΔW</c> as a <c>(out, in)</c> float32 tensor, computed without gradient: the
    /// adapted layer computes <c>(W + ΔW)·x + b</c> (for DoRA, the merged weight minus the base weight).
    /// The caller owns it.
    /// </summary>
    public abstract Tensor DeltaWeight();

    /// <summary>
    /// The path as a plain LoRA of the same function: <c>ΔW = Scaling · B · A</c> with only the live
    /// components kept. The caller owns the returned tensors.
    /// </summary>
    public abstract PlainLoraFactors ToPlainLora();

    /// <summary>
    /// The path as a plain LoRA of at most <paramref name="maxRank"/> components, keeping the most
    /// important: by default the best rank-k approximation of ΔW (its largest singular values, from
    /// the compact factors). Methods whose components have a built-in order (DyLoRA) override.
    /// </summary>
    public virtual PlainLoraFactors ToPlainLora(int maxRank) => LowRankTruncation.Truncate(ToPlainLora(), maxRank);

    /// <summary>
    /// How much each component of <see cref="ToPlainLora(int)"/> matters, in the order truncation keeps
    /// them (descending): by default the singular values of ΔW. The budget dial compares these across modules.
    /// </summary>
    public virtual double[] ComponentImportance()
    {
        var factors = ToPlainLora();
        try
        {
            return LowRankTruncation.SingularValues(factors);
        }
        finally
        {
            factors.A.Dispose();
            factors.B.Dispose();
        }
    }

    /// <summary>
    /// The path's tensors under their PEFT checkpoint names, relative to the adapted module
    /// (for LoRA: <c>lora_A.weight</c>, <c>lora_B.weight</c>). These are the live parameters.
    /// </summary>
    public abstract IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors();

    /// <summary>
    /// Tensors this path shares with other paths of its adapter (Tied-LoRA's tied A and B), under
    /// model-level keys relative to <c>base_model.</c> (for example <c>tied_lora.query.lora_A</c>).
    /// Checkpoints store each key once; loading fills the one shared tensor.
    /// </summary>
    public virtual IEnumerable<KeyValuePair<string, Tensor>> SharedTensors() => [];

    /// <summary>
    /// The tensors to write to a checkpoint, under the same names as <see cref="NamedAdapterTensors"/>.
    /// By default the live tensors; a method that saves a compact form (AdaLoRA at its kept rank)
    /// returns copies, which the caller disposes.
    /// </summary>
    public virtual IEnumerable<KeyValuePair<string, Tensor>> CheckpointTensors() => NamedAdapterTensors();

    /// <summary>
    /// The optimizer group of each trainable tensor: <c>adapter</c> by default; a method names its own
    /// groups (for example <c>gates</c> or <c>singular_values</c>) when they need their own learning
    /// rate or weight decay (see <c>TrainerOptions.GroupLearningRates</c>).
    /// </summary>
    public virtual string ParameterGroupOf(Parameter parameter) => "adapter";

    /// <summary>
    /// Makes the path's trainable tensors require gradient (or not). Methods with tensors that are
    /// always frozen (random bases, frozen shared projections) override this to leave them alone.
    /// </summary>
    public virtual void SetTrainable(bool trainable)
    {
        foreach (var parameter in parameters())
        {
            parameter.requires_grad = trainable;
        }
    }
}

/// <summary>A plain LoRA factorisation <c>ΔW = Scaling · B · A</c>.</summary>
/// <param name="A">Down projection, <c>(r, in)</c>.</param>
/// <param name="B">Up projection, <c>(out, r)</c>.</param>
/// <param name="Scaling">The scaling applied to <c>B·A</c>.</param>
public sealed record PlainLoraFactors(Tensor A, Tensor B, double Scaling)
{
    /// <summary>The rank (rows of <see cref="A"/>).</summary>
    public int Rank => (int)A.shape[0];
}
