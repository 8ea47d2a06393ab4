using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// Evaluates a task during training: the controller's evaluation hooks around the task's own
/// evaluation in eval mode without gradients, and the NaN guard on the validation loss.
/// </summary>
public sealed class Evaluator
{
    private readonly TrainingTask _task;
    private readonly TrainingController? _controller;

    /// <summary>Creates the evaluator of <paramref name="task"/>; <paramref name="controller"/> (optional) gets <see cref="TrainingController.OnEvaluationBegin"/>/<see cref="TrainingController.OnEvaluationEnd"/>.</summary>
    public Evaluator(TrainingTask task, TrainingController? controller)
    {
        ArgumentNullException.ThrowIfNull(task);
        _task = task;
        _controller = controller;
    }

    /// <summary>Evaluates the model after optimizer step <paramref name="step"/>.</summary>
    /// <exception cref="NonFiniteTrainingException">The evaluation loss is not finite.</exception>
    public Evaluation Run(int step)
    {
        _controller?.OnEvaluationBegin();
        Evaluation result;
        _task.Model.eval();
        using (no_grad())
        {
            result = _task.Evaluate() with { Step = step };
        }

        _controller?.OnEvaluationEnd();
        if (!double.IsFinite(result.Loss))
        {
            throw new NonFiniteTrainingException($"step {step}: the validation loss is {result.Loss} (the learning rate is too high?); training stopped, the last checkpoint is intact");
        }

        return result;
    }
}
