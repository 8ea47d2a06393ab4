namespace PeftSharp.Adapters;

/// <content>Training from a loop of your own: <see cref="BeginTraining"/> and the skipped-hooks warning.</content>
public partial class PeftModel
{
    private readonly HashSet<string> _controllerStepped = new(StringComparer.Ordinal);
    private readonly HashSet<string> _hookWarningsGiven = new(StringComparer.Ordinal);

    /// <summary>
    /// Starts training <paramref name="adapterName"/> (default: the active adapter) from your own loop:
    /// puts the model in training mode and returns the <see cref="TrainingSession"/> whose
    /// <see cref="TrainingSession.Parameters"/> go to your optimizer and whose
    /// <see cref="TrainingSession.Backward"/> and <see cref="TrainingSession.AfterOptimizerStep"/> run the
    /// method's <see cref="TrainingController"/> hooks in their documented order. Dispose it after the last step.
    /// </summary>
    /// <param name="learningRate">Your optimizer's base learning rate; controllers with their own optimizer (SoRA's gates) use it.</param>
    /// <param name="adapterName">The adapter whose controller runs (default: the first active adapter); it must be active.</param>
    /// <exception cref="InvalidOperationException"><paramref name="adapterName"/> is not active (call <see cref="SetAdapter"/> first).</exception>
    public TrainingSession BeginTraining(double learningRate, string? adapterName = null)
    {
        ThrowIfUnloaded();
        var name = adapterName ?? ActiveAdapter;
        GetConfig(name);
        if (!_active.Contains(name))
        {
            throw new InvalidOperationException($"adapter '{name}' is not active (active: {string.Join(", ", _active)}); call SetAdapter(\"{name}\") before BeginTraining");
        }

        return new TrainingSession(this, name, learningRate);
    }

    /// <summary>Records that <paramref name="adapterName"/>'s optimizer-step hooks ran (the session and the trainer call this).</summary>
    internal void NoteControllerStep(string adapterName) => _controllerStepped.Add(adapterName);

    /// <summary>Records that the active adapter's optimizer-step hooks ran.</summary>
    internal void NoteControllerStep() => NoteControllerStep(ActiveAdapter);

    /// <summary>
    /// Before <paramref name="operation"/> (save, merge, reading ranks): when an adapter whose method has
    /// a controller ran forwards in training mode but its optimizer-step hooks never ran, adds a warning
    /// to <see cref="Warnings"/> and writes it once to standard error.
    /// </summary>
    private void WarnIfHooksSkipped(string operation)
    {
        foreach (var name in _adapterOrder)
        {
            if (_controllers[name] is null || _controllerStepped.Contains(name) || _hookWarningsGiven.Contains(name))
            {
                continue;
            }

            var forwards = _layers.Sum(m => m.Layer.TrainingForwardsOf(name));
            if (forwards == 0)
            {
                continue;
            }

            var method = _configs[name].Method.Name;
            var warning = $"adapter '{name}' ({method}) ran {forwards} training-mode layer forwards but its training hooks never ran before {operation}: " +
                $"{method} trained as plain LoRA (ranks were not adapted). Train with 'using var session = peft.BeginTraining(learningRate)', " +
                "give the optimizer session.Parameters, and call session.Backward(loss) and, after optimizer.step(), session.AfterOptimizerStep() every step " +
                "(or use PeftSharp.Training's TrainingLoop)";
            _hookWarningsGiven.Add(name);
            _warnings.Add(warning);
            Console.Error.WriteLine($"warning: {warning}");
        }
    }
}
