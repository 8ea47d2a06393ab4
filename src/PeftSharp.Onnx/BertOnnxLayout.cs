using System.Text.RegularExpressions;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PeftSharp.Onnx;

/// <summary>
/// Where the weights of a BERT-family encoder live in an ONNX graph exported from PyTorch, and the
/// configuration the graph implies. Named initializers keep their Hugging Face names; linear weights
/// that the exporter renamed to numbers (and stored transposed for <c>MatMul</c>) get the name of the
/// bias their <c>MatMul</c> feeds through an <c>Add</c>.
/// </summary>
public sealed partial class BertOnnxLayout
{
    private BertOnnxLayout(OnnxGraph graph, string prefix, IReadOnlyList<OnnxWeight> weights, BertOnnxSettings settings, string lastHidden, string? pooled)
    {
        Graph = graph;
        Prefix = prefix;
        Weights = weights;
        Settings = settings;
        LastHiddenTensor = lastHidden;
        PooledTensor = pooled;
    }

    /// <summary>The graph.</summary>
    public OnnxGraph Graph { get; }

    /// <summary>The prefix the exporter's names carry before <c>embeddings.</c> (empty for a bare <c>BertModel</c>, <c>bert.</c> for a task model).</summary>
    public string Prefix { get; }

    /// <summary>Every BERT weight, in Hugging Face names without prefix.</summary>
    public IReadOnlyList<OnnxWeight> Weights { get; }

    /// <summary>The configuration.</summary>
    public BertOnnxSettings Settings { get; }

    /// <summary>The tensor holding the encoder's last hidden state <c>(batch, T, hidden)</c>.</summary>
    public string LastHiddenTensor { get; }

    /// <summary>The tensor holding the pooler output <c>tanh(dense(hidden[:, 0]))</c>, or null when the graph has no pooler.</summary>
    public string? PooledTensor { get; }

    /// <summary>Maps the BERT encoder in <paramref name="graph"/>.</summary>
    /// <exception cref="OnnxFormatException">The graph is not a BERT-family encoder PeftSharp can map; the message names the node or initializer.</exception>
    public static BertOnnxLayout Analyze(OnnxGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var source = graph.Source;
        var word = graph.Initializers.Keys.Where(n => n.EndsWith("embeddings.word_embeddings.weight", StringComparison.Ordinal)).ToList();
        if (word.Count != 1)
        {
            throw new OnnxFormatException($"{source}: expected one initializer named '…embeddings.word_embeddings.weight', found {word.Count}; is this a BERT-family encoder exported from PyTorch?");
        }

        var prefix = word[0][..^"embeddings.word_embeddings.weight".Length];
        var weights = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        void Add(OnnxWeight weight, NodeProto? node)
        {
            if (!weights.TryAdd(weight.Name, weight))
            {
                throw new OnnxFormatException($"{source}: '{weight.Name}' is found twice (initializers '{weights[weight.Name].Initializer}' and '{weight.Initializer}'{(node is null ? string.Empty : $", node {OnnxGraph.Describe(node)}")})");
            }
        }

        foreach (var (name, tensor) in graph.Initializers)
        {
            if ((DataType)tensor.DataType != DataType.Float)
            {
                continue;
            }

            if (name.StartsWith(prefix, StringComparison.Ordinal) && HuggingFaceName().IsMatch(name[prefix.Length..]))
            {
                Add(new OnnxWeight(name[prefix.Length..], name, IsStoredTransposed(graph, name)), null);
            }
            else if (tensor.Dims.Count == 2)
            {
                var (hfName, node) = NameFromBias(graph, name, prefix);
                Add(new OnnxWeight(hfName, name, Transposed: true), node);
            }
        }

        var settings = Infer(graph, weights, prefix);
        CheckComplete(graph, weights, settings);
        var lastHidden = OutputOfLayerNorm(graph, prefix + $"encoder.layer.{settings.NumHiddenLayers - 1}.output.LayerNorm");
        var pooled = weights.TryGetValue("pooler.dense.weight", out var poolerWeight) ? PoolerOutput(graph, poolerWeight.Initializer) : null;
        var ordered = weights.Values.OrderBy(w => w.Name, StringComparer.Ordinal).ToList();
        return new BertOnnxLayout(graph, prefix, ordered, settings, lastHidden, pooled);
    }

    /// <summary>The Hugging Face shape <c>(out, in)</c> or <c>(n)</c> of <paramref name="weight"/>.</summary>
    public long[] ShapeOf(OnnxWeight weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var dims = Graph.Initializers[weight.Initializer].Dims.ToArray();
        return weight.Transposed ? [dims[1], dims[0]] : dims;
    }

    [GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings)\.weight|embeddings\.LayerNorm\.(weight|bias)|encoder\.layer\.\d{1,4}\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)\.(weight|bias)|encoder\.layer\.\d{1,4}\.(attention\.output|output)\.LayerNorm\.(weight|bias)|pooler\.dense\.(weight|bias))$", RegexOptions.CultureInvariant)]
    private static partial Regex HuggingFaceName();

    private static bool IsStoredTransposed(OnnxGraph graph, string initializer) =>
        graph.Consumers(initializer).Any(c =>
            (c.Node.OpType == "MatMul" && c.Input == 1) ||
            (c.Node.OpType == "Gemm" && c.Input == 1 && !c.Node.Attribute.Any(a => a.Name == "transB" && a.I != 0)));

    private static (string Name, NodeProto Node) NameFromBias(OnnxGraph graph, string initializer, string prefix)
    {
        var consumers = graph.Consumers(initializer);
        if (consumers.Count == 0)
        {
            throw new OnnxFormatException($"{graph.Source}: initializer '{initializer}' [{string.Join(", ", graph.Initializers[initializer].Dims)}] has no Hugging Face name and no node uses it");
        }

        var (node, slot) = consumers[0];
        if (consumers.Count != 1 || node.OpType != "MatMul" || slot != 1 || node.Output.Count != 1)
        {
            throw new OnnxFormatException($"{graph.Source}: node {OnnxGraph.Describe(node)} uses initializer '{initializer}' [{string.Join(", ", graph.Initializers[initializer].Dims)}], which has no Hugging Face name and is not the weight of a single MatMul");
        }

        var adds = graph.Consumers(node.Output[0]);
        if (adds.Count == 1 && adds[0].Node.OpType == "Add" && adds[0].Node.Input.Count == 2)
        {
            var bias = adds[0].Node.Input[1 - adds[0].Input];
            if (bias.StartsWith(prefix, StringComparison.Ordinal) && bias.EndsWith(".bias", StringComparison.Ordinal) && graph.Initializers.ContainsKey(bias))
            {
                var name = bias[prefix.Length..^".bias".Length] + ".weight";
                if (HuggingFaceName().IsMatch(name))
                {
                    return (name, node);
                }
            }
        }

        throw new OnnxFormatException($"{graph.Source}: node {OnnxGraph.Describe(node)} multiplies by initializer '{initializer}', but its output does not feed the Add of a named BERT bias, so its Hugging Face name cannot be recovered");
    }

    private static BertOnnxSettings Infer(OnnxGraph graph, Dictionary<string, OnnxWeight> weights, string prefix)
    {
        int Dim(string name, int index)
        {
            if (!weights.TryGetValue(name, out var weight))
            {
                throw new OnnxFormatException($"{graph.Source}: the graph has no '{prefix}{name}'");
            }

            var dims = graph.Initializers[weight.Initializer].Dims;
            if (weight.Transposed)
            {
                index = dims.Count - 1 - index;
            }

            return index < dims.Count && dims[index] is > 0 and <= int.MaxValue ? (int)dims[index]
                : throw new OnnxFormatException($"{graph.Source}: '{weight.Initializer}' ({name}) has dimensions [{string.Join(", ", dims)}]");
        }

        var layers = 0;
        while (weights.ContainsKey($"encoder.layer.{layers}.attention.self.query.weight"))
        {
            layers++;
        }

        if (layers == 0)
        {
            throw new OnnxFormatException($"{graph.Source}: the graph has no '{prefix}encoder.layer.0.attention.self.query' weight");
        }

        var hidden = Dim("embeddings.word_embeddings.weight", 1);
        return new BertOnnxSettings(
            VocabSize: Dim("embeddings.word_embeddings.weight", 0),
            HiddenSize: hidden,
            NumHiddenLayers: layers,
            NumAttentionHeads: Heads(graph, weights["encoder.layer.0.attention.self.query.weight"], hidden),
            IntermediateSize: Dim("encoder.layer.0.intermediate.dense.weight", 0),
            MaxPositionEmbeddings: Dim("embeddings.position_embeddings.weight", 0),
            TypeVocabSize: Dim("embeddings.token_type_embeddings.weight", 0),
            LayerNormEps: Epsilon(graph, prefix + "embeddings.LayerNorm"),
            HiddenAct: Activation(graph, weights["encoder.layer.0.intermediate.dense.weight"]));
    }

    private static void CheckComplete(OnnxGraph graph, Dictionary<string, OnnxWeight> weights, BertOnnxSettings s)
    {
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = [s.VocabSize, s.HiddenSize],
            ["embeddings.position_embeddings.weight"] = [s.MaxPositionEmbeddings, s.HiddenSize],
            ["embeddings.token_type_embeddings.weight"] = [s.TypeVocabSize, s.HiddenSize],
            ["embeddings.LayerNorm.weight"] = [s.HiddenSize],
            ["embeddings.LayerNorm.bias"] = [s.HiddenSize],
        };
        for (var i = 0; i < s.NumHiddenLayers; i++)
        {
            var layer = $"encoder.layer.{i}.";
            foreach (var linear in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                expected[layer + linear + ".weight"] = [s.HiddenSize, s.HiddenSize];
                expected[layer + linear + ".bias"] = [s.HiddenSize];
            }

            expected[layer + "intermediate.dense.weight"] = [s.IntermediateSize, s.HiddenSize];
            expected[layer + "intermediate.dense.bias"] = [s.IntermediateSize];
            expected[layer + "output.dense.weight"] = [s.HiddenSize, s.IntermediateSize];
            expected[layer + "output.dense.bias"] = [s.HiddenSize];
            foreach (var norm in new[] { "attention.output.LayerNorm", "output.LayerNorm" })
            {
                expected[layer + norm + ".weight"] = [s.HiddenSize];
                expected[layer + norm + ".bias"] = [s.HiddenSize];
            }
        }

        if (weights.ContainsKey("pooler.dense.weight") || weights.ContainsKey("pooler.dense.bias"))
        {
            expected["pooler.dense.weight"] = [s.HiddenSize, s.HiddenSize];
            expected["pooler.dense.bias"] = [s.HiddenSize];
        }

        var missing = expected.Keys.Where(k => !weights.ContainsKey(k)).ToList();
        if (missing.Count > 0)
        {
            throw new OnnxFormatException($"{graph.Source}: the graph lacks {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? $" (and {missing.Count - 5} more)" : string.Empty)}");
        }

        foreach (var (name, weight) in weights)
        {
            if (!expected.TryGetValue(name, out var shape))
            {
                throw new OnnxFormatException($"{graph.Source}: initializer '{weight.Initializer}' maps to '{name}', beyond the {s.NumHiddenLayers} layers the graph's other weights describe");
            }

            var dims = graph.Initializers[weight.Initializer].Dims.ToArray();
            var actual = weight.Transposed && dims.Length == 2 ? new[] { dims[1], dims[0] } : dims;
            if (!actual.SequenceEqual(shape))
            {
                throw new OnnxFormatException($"{graph.Source}: initializer '{weight.Initializer}' ({name}) has shape [{string.Join(", ", dims)}]{(weight.Transposed ? " (stored transposed)" : string.Empty)}; expected [{string.Join(", ", shape)}]");
            }
        }
    }

    private static int Heads(OnnxGraph graph, OnnxWeight query, int hidden)
    {
        // MatMul(x, Wq) → Add(bias) → Reshape(·, [batch, T, heads, head_dim]); the shape is a constant or a Concat of scalars.
        var matmul = graph.Consumers(query.Initializer).FirstOrDefault(c => c.Node.OpType == "MatMul").Node;
        var add = matmul?.Output.FirstOrDefault() is not { } product ? null : graph.Consumers(product).FirstOrDefault(c => c.Node.OpType == "Add").Node;
        var reshape = add?.Output.FirstOrDefault() is not { } sum ? null : graph.Consumers(sum).FirstOrDefault(c => c.Node.OpType == "Reshape" && c.Input == 0).Node;
        if (reshape is not null && reshape.Input.Count >= 2)
        {
            long? heads = null;
            if (graph.ConstantValue(reshape.Input[1]) is { } shape)
            {
                var values = OnnxTensorData.ReadIntegers(shape, $"{graph.Source}: node {OnnxGraph.Describe(reshape)} shape");
                heads = values.Length == 4 ? values[2] : null;
            }
            else if (graph.Producer(reshape.Input[1]) is { OpType: "Concat" } concat && concat.Input.Count == 4 && graph.ConstantValue(concat.Input[2]) is { } part)
            {
                var values = OnnxTensorData.ReadIntegers(part, $"{graph.Source}: node {OnnxGraph.Describe(concat)} input '{concat.Input[2]}'");
                heads = values.Length == 1 ? values[0] : null;
            }

            if (heads is > 0 && heads <= hidden && hidden % heads == 0)
            {
                return (int)heads.Value;
            }

            throw new OnnxFormatException($"{graph.Source}: node {OnnxGraph.Describe(reshape)} splits the query into {(heads?.ToString(CultureInfo.InvariantCulture) ?? "an unknown number of")} heads, which does not divide the hidden size {hidden}");
        }

        throw new OnnxFormatException($"{graph.Source}: cannot find the number of attention heads: no Reshape of the query projection (initializer '{query.Initializer}') with a constant head count");
    }

    private static double Epsilon(OnnxGraph graph, string norm)
    {
        var weight = norm + ".weight";
        foreach (var (node, _) in graph.Consumers(weight))
        {
            if (node.OpType == "LayerNormalization")
            {
                return node.Attribute.FirstOrDefault(a => a.Name == "epsilon") is { } attribute ? Round(attribute.F) : 1e-5;
            }

            // (x − mean) / Sqrt(Add(ReduceMean(Pow(x − mean, 2)), eps)) · weight + bias
            if (node.OpType == "Mul" && node.Input.Count == 2 && graph.Producer(node.Input[1 - node.Input.IndexOf(weight)]) is { OpType: "Div" } div && div.Input.Count == 2 &&
                graph.Producer(div.Input[1]) is { OpType: "Sqrt" } sqrt && graph.Producer(sqrt.Input[0]) is { OpType: "Add" } add && add.Input.Count == 2)
            {
                foreach (var input in add.Input)
                {
                    if (graph.ConstantValue(input) is { DataType: (int)DataType.Float } constant && OnnxTensorData.ElementCount(constant, input) == 1)
                    {
                        var value = OnnxTensorData.ReadFloats(constant, $"{graph.Source}: constant '{input}'")[0];
                        if (value is > 0 and < 1)
                        {
                            return Round(value);
                        }
                    }
                }
            }
        }

        throw new OnnxFormatException($"{graph.Source}: cannot find the layer-norm epsilon of '{norm}' (expected LayerNormalization or Div(x − mean, Sqrt(Add(variance, eps))) · weight)");
    }

    private static double Round(float value) => double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string OutputOfLayerNorm(OnnxGraph graph, string norm)
    {
        var bias = norm + ".bias";
        foreach (var (node, _) in graph.Consumers(norm + ".weight"))
        {
            if (node.OpType == "LayerNormalization" && node.Output.Count > 0)
            {
                return node.Output[0];
            }
        }

        var add = graph.Consumers(bias).FirstOrDefault(c => c.Node.OpType == "Add").Node;
        return add?.Output.FirstOrDefault() ?? throw new OnnxFormatException($"{graph.Source}: no node adds '{bias}', so the last hidden state cannot be found");
    }

    private static string? PoolerOutput(OnnxGraph graph, string weight)
    {
        foreach (var (node, _) in graph.Consumers(weight))
        {
            var output = node.Output.FirstOrDefault();
            if (output is null)
            {
                continue;
            }

            if (node.OpType == "MatMul")
            {
                output = graph.Consumers(output).FirstOrDefault(c => c.Node.OpType == "Add").Node?.Output.FirstOrDefault();
            }

            if (output is not null && graph.Consumers(output).FirstOrDefault(c => c.Node.OpType == "Tanh").Node is { } tanh)
            {
                return tanh.Output.FirstOrDefault();
            }
        }

        return null;
    }

    private static string Activation(OnnxGraph graph, OnnxWeight intermediate)
    {
        var matmul = graph.Consumers(intermediate.Initializer).FirstOrDefault(c => c.Node.OpType is "MatMul" or "Gemm").Node;
        var output = matmul?.Output.FirstOrDefault();
        if (matmul?.OpType == "MatMul" && output is not null)
        {
            output = graph.Consumers(output).FirstOrDefault(c => c.Node.OpType == "Add").Node?.Output.FirstOrDefault();
        }

        var next = output is null ? [] : graph.Consumers(output).Select(c => c.Node).ToList();
        if (next.Any(n => n.OpType == "Gelu") || next.Any(n => n.OpType == "Div" && n.Output.Count > 0 && graph.Consumers(n.Output[0]).Any(c => c.Node.OpType == "Erf")))
        {
            return "gelu";
        }

        if (next.Any(n => n.OpType == "Relu"))
        {
            return "relu";
        }

        throw new OnnxFormatException($"{graph.Source}: the feed-forward activation after {(matmul is null ? $"initializer '{intermediate.Initializer}'" : "node " + OnnxGraph.Describe(matmul))} is neither GELU (erf) nor ReLU: {string.Join(", ", next.Select(OnnxGraph.Describe))}");
    }
}
