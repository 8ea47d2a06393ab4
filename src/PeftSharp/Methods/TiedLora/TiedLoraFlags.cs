namespace PeftSharp.Methods.TiedLora;

/// <summary>Which Tied-LoRA tensors train, and whether A and B are shared across layers.</summary>
/// <param name="TrainA">A trains.</param>
/// <param name="TrainB">B trains.</param>
/// <param name="TrainU">The per-layer u train.</param>
/// <param name="TrainV">The per-layer v train.</param>
/// <param name="TieAB">One A and one B per target type (and shape) for all layers; false gives each layer its own.</param>
public sealed record TiedLoraFlags(bool TrainA, bool TrainB, bool TrainU, bool TrainV, bool TieAB);
