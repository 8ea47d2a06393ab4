using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// Runs an adapter's <see cref="TrainingController"/> hooks from a training loop you write yourself
/// (created by <see cref="PeftModel.BeginTraining"/>). Adaptive methods (SoRA, AdaLoRA, DyLoRA, SARA)
/// only adapt their ranks when these hooks run; without them they train as plain LoRA.
/// </summary>
/// <remarks>
/// Each optimizer step of your loop does, in this order:
/// <code>
/// var loss = ...;                      // forward in training mode
/// session.Backward(loss);              // adds ExtraLoss, loss.backward(), OnAfterBackward
/// // optional: clip_grad_norm_(peft.GetTrainableParameters(), max)
/// optimizer.step();                    // an optimizer over session.Parameters only
/// session.AfterOptimizerStep();        // OnOptimizerStep (the controller's own optimizer), OnAfterOptimizerStep,
///                                      // zeroes the controller-owned gradients, OnStepBegin of the next step
/// optimizer.zero_grad();
/// </code>
/// <see cref="PeftModel.BeginTraining"/> calls <see cref="TrainingController.OnStepBegin"/> of step 0;
/// <see cref="Dispose"/> calls <see cref="TrainingController.OnTrainingEnd"/>. This is the order
/// <c>PeftSharp.Training.TrainingLoop</c> uses (without gradient accumulation). The session is not
/// thread-safe.
/// </remarks>
public sealed class TrainingSession : IDisposable
{
    private readonly PeftModel _peft;
    private readonly string _adapterName;
    private readonly TrainingController? _controller;
    private readonly double _learningRate;
    private bool _disposed;

    internal TrainingSession(PeftModel peft, string adapterName, double learningRate)
    {
        _peft = peft;
        _adapterName = adapterName;
        _controller = peft.GetController(adapterName);
        _learningRate = learningRate;
        var owned = _controller?.OwnedParameters ?? [];
        var ownedHandles = owned.Select(p => p.Handle).ToHashSet();
        Parameters = peft.GetTrainableParameters().Where(p => !ownedHandles.Contains(p.Handle)).ToList();
        OwnedParameters = owned;
        peft.Model.train();
        _controller?.OnStepBegin(Step);
    }

    /// <summary>
    /// The parameters to give your optimizer: <see cref="PeftModel.GetTrainableParameters"/> minus
    /// <see cref="OwnedParameters"/> (which the controller steps itself; putting them in your optimizer
    /// too would step them twice).
    /// </summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The parameters the method's controller updates with its own optimizer (SoRA's gates); empty for most methods.</summary>
    public IReadOnlyList<Parameter> OwnedParameters { get; }

    /// <summary>The controller of the trained adapter, or null when its method has none (LoRA, DoRA, Tied-LoRA).</summary>
    public TrainingController? Controller => _controller;

    /// <summary>The current optimizer step (0-based); <see cref="AfterOptimizerStep"/> advances it.</summary>
    public long Step { get; private set; }

    /// <summary>
    /// The method's extra loss term for this step (SoRA's L1, AdaLoRA's orthogonality penalty), or
    /// null. <see cref="Backward"/> adds it for you; call this only if you run backward yourself.
    /// </summary>
    public Tensor? ExtraLoss()
    {
        ThrowIfDisposed();
        return _controller?.ExtraLoss(Step);
    }

    /// <summary>
    /// Adds the method's extra loss to <paramref name="loss"/>, runs backward and the after-backward
    /// hook. Returns the total loss that was back-propagated (in the caller's dispose scope).
    /// </summary>
    public Tensor Backward(Tensor loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ThrowIfDisposed();
        var total = _controller?.ExtraLoss(Step) is { } extra ? loss + extra : loss;
        total.backward();
        _controller?.OnAfterBackward(Step);
        return total;
    }

    /// <summary>
    /// Call once per optimizer step, after <c>optimizer.step()</c> and before <c>zero_grad()</c>. Runs
    /// <see cref="TrainingController.OnOptimizerStep"/> with the learning rate given to
    /// <see cref="PeftModel.BeginTraining"/> times <paramref name="scheduleMultiplier"/> (your warm-up/decay
    /// factor), then <see cref="TrainingController.OnAfterOptimizerStep"/>, zeroes the gradients of
    /// <see cref="OwnedParameters"/>, advances <see cref="Step"/> and calls
    /// <see cref="TrainingController.OnStepBegin"/> of the next step (DyLoRA samples its rank there).
    /// </summary>
    public void AfterOptimizerStep(double scheduleMultiplier = 1.0)
    {
        ThrowIfDisposed();
        _controller?.OnOptimizerStep(Step, _learningRate, scheduleMultiplier);
        _controller?.OnAfterOptimizerStep(Step);
        foreach (var parameter in OwnedParameters)
        {
            parameter.grad?.zero_();
        }

        _peft.NoteControllerStep(_adapterName);
        Step++;
        _controller?.OnStepBegin(Step);
    }

    /// <summary>Ends training: calls <see cref="TrainingController.OnTrainingEnd"/> (DyLoRA returns to its evaluation rank).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _controller?.OnTrainingEnd();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
