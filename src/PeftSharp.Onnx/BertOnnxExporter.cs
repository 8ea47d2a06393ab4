using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PeftSharp.Onnx;

/// <summary>
/// Writes fine-tuned (merged) BERT weights back into the original ONNX graph they were imported
/// from: same inputs and outputs, initializers replaced (linear weights transposed back to the
/// MatMul layout), and, for a sequence classifier, BertForSequenceClassification's head appended
/// (pooler <c>tanh(dense(hidden[:, 0]))</c> when the graph has none, then <c>classifier</c>) with an
/// extra <see cref="LogitsOutput"/> output.
/// </summary>
public static class BertOnnxExporter
{
    private static readonly string[] PoolerNodeNames = ["pooler.first_token", "pooler.first_token_index", "pooler.dense.weight", "pooler.dense.bias", "pooler.dense", "pooler.output"];


    /// <summary>The name of the appended classifier output <c>(batch, labels)</c>.</summary>
    public const string LogitsOutput = "logits";

    /// <summary>
    /// Replaces the encoder weights of the ONNX model at <paramref name="originalPath"/> by those in
    /// <paramref name="state"/> and writes the result to <paramref name="outputPath"/> (atomically).
    /// </summary>
    /// <param name="originalPath">The ONNX graph the model was imported from.</param>
    /// <param name="state">The merged model's state: <c>bert.*</c> encoder weights (Hugging Face names and layout), and <c>classifier.weight</c>/<c>classifier.bias</c> for a classifier.</param>
    /// <param name="outputPath">The <c>.onnx</c> file to write.</param>
    /// <exception cref="OnnxFormatException">The original graph cannot be mapped.</exception>
    /// <exception cref="PeftException">The state lacks a weight of the graph, has another shape, or has a head the exporter cannot express.</exception>
    public static OnnxExportSummary Export(string originalPath, IReadOnlyDictionary<string, Tensor> state, string outputPath)
    {
        ArgumentNullException.ThrowIfNull(state);
        var graph = OnnxGraph.Load(originalPath);
        var layout = BertOnnxLayout.Analyze(graph);
        if (state.Keys.Any(k => k.StartsWith("classifier.out_proj.", StringComparison.Ordinal) || k.StartsWith("roberta.", StringComparison.Ordinal)))
        {
            throw new PeftException("the model is a RoBERTa classifier; ONNX export handles BERT (BertForSequenceClassification) only");
        }

        foreach (var weight in layout.Weights)
        {
            var name = BertOnnxImporter.CheckpointPrefix + weight.Name;
            if (!state.TryGetValue(name, out var value))
            {
                throw new PeftException($"the model has no '{name}', which the ONNX graph stores as initializer '{weight.Initializer}'");
            }

            var proto = graph.Initializers[weight.Initializer];
            Replace(proto, value, weight.Transposed, name);
        }

        var labels = 0;
        var addedPooler = false;
        if (state.TryGetValue("classifier.weight", out var classifierWeight))
        {
            var pooled = layout.PooledTensor;
            if (pooled is null)
            {
                pooled = AppendPooler(layout, state);
                addedPooler = true;
            }

            labels = AppendClassifier(layout, classifierWeight, state.GetValueOrDefault("classifier.bias"), pooled);
        }

        AtomicFile.Write(outputPath, stream => graph.Model.WriteTo(stream));
        return new OnnxExportSummary(layout.Weights.Count, labels, addedPooler);
    }

    private static void Replace(TensorProto proto, Tensor value, bool transposed, string name)
    {
        using var scope = NewDisposeScope();
        var stored = transposed && value.dim() == 2 ? value.t() : value;
        if (!stored.shape.SequenceEqual(proto.Dims))
        {
            throw new PeftException($"'{name}' has shape [{string.Join(", ", value.shape)}] but the ONNX initializer '{proto.Name}' needs [{string.Join(", ", transposed ? proto.Dims.Reverse() : proto.Dims)}]");
        }

        OnnxTensorData.WriteFloats(proto, Floats(stored));
    }

    private static float[] Floats(Tensor value)
    {
        using var scope = NewDisposeScope();
        return value.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }

    private static string AppendPooler(BertOnnxLayout layout, IReadOnlyDictionary<string, Tensor> state)
    {
        var graph = layout.Graph;
        if (!state.TryGetValue(BertOnnxImporter.CheckpointPrefix + "pooler.dense.weight", out var weight) || !state.TryGetValue(BertOnnxImporter.CheckpointPrefix + "pooler.dense.bias", out var bias))
        {
            throw new PeftException("the classifier needs the pooler (bert.pooler.dense), which neither the model nor the ONNX graph has");
        }

        var names = PoolerNodeNames.Select(n => layout.Prefix + n).ToArray();
        CheckFree(graph, names);
        graph.Graph.Initializer.Add(OnnxTensorData.CreateIntegers(names[1], [], [0]));
        graph.Graph.Initializer.Add(OnnxTensorData.CreateFloats(names[2], weight.shape, Floats(weight)));
        graph.Graph.Initializer.Add(OnnxTensorData.CreateFloats(names[3], bias.shape, Floats(bias)));
        graph.Graph.Node.Add(Node("Gather", names[0], [layout.LastHiddenTensor, names[1]], names[0], new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Graph.Node.Add(Node("Gemm", names[4], [names[0], names[2], names[3]], names[4], new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Graph.Node.Add(Node("Tanh", names[5], [names[4]], names[5]));
        return names[5];
    }

    private static int AppendClassifier(BertOnnxLayout layout, Tensor weight, Tensor? bias, string pooled)
    {
        var graph = layout.Graph;
        var hidden = layout.Settings.HiddenSize;
        if (weight.dim() != 2 || weight.shape[1] != hidden || bias is null || bias.dim() != 1 || bias.shape[0] != weight.shape[0])
        {
            throw new PeftException($"the classifier has weight [{string.Join(", ", weight.shape)}] and bias [{string.Join(", ", bias?.shape ?? [])}]; expected [labels, {hidden}] and [labels]");
        }

        var names = new[] { "classifier.weight", "classifier.bias", "classifier", LogitsOutput };
        CheckFree(graph, names);
        graph.Graph.Initializer.Add(OnnxTensorData.CreateFloats(names[0], weight.shape, Floats(weight)));
        graph.Graph.Initializer.Add(OnnxTensorData.CreateFloats(names[1], bias.shape, Floats(bias)));
        graph.Graph.Node.Add(Node("Gemm", names[2], [pooled, names[0], names[1]], LogitsOutput, new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = weight.shape[0] });
        graph.Graph.Output.Add(new ValueInfoProto
        {
            Name = LogitsOutput,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } },
        });
        return (int)weight.shape[0];
    }

    private static void CheckFree(OnnxGraph graph, IEnumerable<string> names)
    {
        foreach (var name in names.Where(n => graph.IsDefined(n) || graph.Graph.Node.Any(node => node.Name == n) || graph.Graph.Output.Any(o => o.Name == n)))
        {
            throw new OnnxFormatException($"{graph.Source}: the graph already uses the name '{name}' that the appended head needs");
        }
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }
}
