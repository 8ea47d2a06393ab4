using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>The NaN guard: gradients after backward, parameters before anything is saved.</summary>
internal static class FiniteChecks
{
    /// <summary>Throws when a gradient of step <paramref name="step"/> (0-based) is not finite, naming the parameter.</summary>
    public static void CheckGradients(int step, IReadOnlyList<Parameter> parameters, IReadOnlyDictionary<IntPtr, string> names)
    {
        if (FirstNonFinite(parameters, p => p.grad?.norm()) is { } first)
        {
            throw new NonFiniteTrainingException($"step {step + 1}: the gradient of '{names.GetValueOrDefault(first.Handle, "?")}' is not finite; training stopped, the last checkpoint is intact");
        }
    }

    /// <summary>Refuses to save parameters that overflowed (an exploding learning rate), so a checkpoint is never garbage.</summary>
    public static void EnsureFiniteParameters(int step, IReadOnlyList<Parameter> parameters, IReadOnlyDictionary<IntPtr, string> names)
    {
        if (FirstNonFinite(parameters, p => p) is { } first)
        {
            throw new NonFiniteTrainingException($"step {step}: parameter '{names.GetValueOrDefault(first.Handle, "?")}' is no longer finite (the learning rate is too high?); training stopped, the last checkpoint is intact");
        }
    }

    /// <summary>The first parameter whose <paramref name="tensorOf"/> (null: nothing to check) has a non-finite element, found with one host synchronisation when all are finite.</summary>
    private static Parameter? FirstNonFinite(IReadOnlyList<Parameter> parameters, Func<Parameter, Tensor?> tensorOf)
    {
        using var scope = NewDisposeScope();
        var finite = stack(parameters.Select(p => tensorOf(p) is { } t ? isfinite(t).all() : tensor(true)).ToArray());
        if (finite.all().item<bool>())
        {
            return null;
        }

        return parameters[Array.IndexOf(finite.data<bool>().ToArray(), false)];
    }
}
