using TorchSharp.Modules;

namespace PeftSharp.Training;

/// <summary>Parameters the optimizer updates with one learning rate and one weight decay.</summary>
/// <param name="Name">Group name (a path's <c>ParameterGroupOf</c>, <c>head</c>, or the caller's own).</param>
/// <param name="Parameters">The parameters.</param>
/// <param name="LearningRate">Peak learning rate (the schedule scales it).</param>
/// <param name="WeightDecay">Decoupled weight decay.</param>
public sealed record ParameterGroup(string Name, IReadOnlyList<Parameter> Parameters, double LearningRate, double WeightDecay);
