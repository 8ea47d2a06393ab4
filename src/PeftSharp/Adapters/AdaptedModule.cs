namespace PeftSharp.Adapters;

/// <summary>An adapted module: its name in the model and its adapter layer.</summary>
/// <param name="Name">The module's name inside the original model (for example <c>encoder.layer.0.attention.self.query</c>).</param>
/// <param name="Layer">The adapter layer that replaced it.</param>
public sealed record AdaptedModule(string Name, AdapterLayer Layer);
