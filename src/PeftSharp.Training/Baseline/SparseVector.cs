namespace PeftSharp.Training.Baseline;

/// <summary>A sparse feature vector: ascending feature indices and their values.</summary>
/// <param name="Indices">Feature indices, ascending.</param>
/// <param name="Values">The value of each index.</param>
public sealed record SparseVector(int[] Indices, float[] Values);
