namespace PeftSharp.Onnx;

/// <summary>What <see cref="BertOnnxExporter.Export"/> wrote.</summary>
/// <param name="Weights">Initializers replaced by the given weights.</param>
/// <param name="Labels">Classes of the appended classifier (its output is <see cref="BertOnnxExporter.LogitsOutput"/>), or 0 when none was appended.</param>
/// <param name="AddedPooler">True when the graph had no pooler and one was appended for the classifier.</param>
public sealed record OnnxExportSummary(int Weights, int Labels, bool AddedPooler);
