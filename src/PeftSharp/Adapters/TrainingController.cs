using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// A method's training-time logic, called by the trainer at fixed points of every optimizer step:
/// <see cref="OnStepBegin"/> → forward → <see cref="ExtraLoss"/> → backward →
/// <see cref="OnAfterBackward"/> → clip → optimizer step → <see cref="OnOptimizerStep"/> (the
/// controller's own optimizer, if any) → <see cref="OnAfterOptimizerStep"/> →
/// zero grad; <see cref="OnTrainingEnd"/> (the finalize hook) once after the last step. With gradient accumulation each
/// hook still runs once per optimizer step. Every hook is a no-op unless a method overrides it.
/// A training loop of your own runs these hooks through <see cref="TrainingSession"/>
/// (<see cref="PeftModel.BeginTraining"/>) rather than calling them directly.
/// </summary>
public abstract class TrainingController
{
    /// <summary>Before the forward of optimizer step <paramref name="step"/> (0-based). DyLoRA samples its rank here.</summary>
    public virtual void OnStepBegin(long step)
    {
    }

    /// <summary>A loss term added to the task loss of this step (AdaLoRA's orthogonality penalty, SoRA's L1), or null.</summary>
    public virtual Tensor? ExtraLoss(long step) => null;

    /// <summary>After backward, before clipping and the optimizer step.</summary>
    public virtual void OnAfterBackward(long step)
    {
    }

    /// <summary>
    /// Parameters this controller updates with its own optimizer (SoRA's gates). The trainer leaves
    /// them out of its optimizer but still clips them with the rest and checks their gradients.
    /// </summary>
    public virtual IReadOnlyList<Parameter> OwnedParameters => [];

    /// <summary>
    /// Right after the trainer's optimizer step: steps the controller's own optimizer over
    /// <see cref="OwnedParameters"/>. <paramref name="learningRate"/> is the trainer's base rate and
    /// <paramref name="scheduleMultiplier"/> the warm-up/decay factor of this step.
    /// </summary>
    public virtual void OnOptimizerStep(long step, double learningRate, double scheduleMultiplier)
    {
    }

    /// <summary>After the optimizer step, while gradients are still present (AdaLoRA's allocator, SoRA's threshold).</summary>
    public virtual void OnAfterOptimizerStep(long step)
    {
    }

    /// <summary>Before an evaluation during training (DyLoRA switches to its evaluation rank here).</summary>
    public virtual void OnEvaluationBegin()
    {
    }

    /// <summary>After an evaluation during training; training resumes with the state from before it.</summary>
    public virtual void OnEvaluationEnd()
    {
    }

    /// <summary>Once, after the last step.</summary>
    public virtual void OnTrainingEnd()
    {
    }

    /// <summary>The controller's state for a checkpoint (tensors are copies the caller owns).</summary>
    public virtual ControllerState GetState() => new();

    /// <summary>Restores state produced by <see cref="GetState"/>.</summary>
    public virtual void LoadState(ControllerState state)
    {
    }
}

/// <summary>A controller's checkpointable state: named tensors and named numbers.</summary>
public sealed class ControllerState
{
    /// <summary>Named tensors (EMAs, masks, generator state).</summary>
    public Dictionary<string, Tensor> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>Named scalars (step counters, thresholds).</summary>
    public Dictionary<string, double> Values { get; } = new(StringComparer.Ordinal);
}
