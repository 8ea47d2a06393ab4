using Google.Protobuf;
using Onnx;

namespace PeftSharp.Onnx;

/// <summary>
/// A parsed and checked ONNX model: every stored tensor is well formed and held inside the file, every
/// node input is defined, and the graph is acyclic. Indexes initializers, constants, producers and consumers.
/// </summary>
public sealed class OnnxGraph
{
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(NodeProto Node, int Input)>> _consumers = new(StringComparer.Ordinal);

    private OnnxGraph(ModelProto model, string source)
    {
        Model = model;
        Source = source;
        var graph = model.Graph ?? throw new OnnxFormatException($"{source}: the model has no graph");
        foreach (var initializer in graph.Initializer)
        {
            OnnxTensorData.Validate(initializer, $"{source}: initializer '{initializer.Name}'");
            if (!_initializers.TryAdd(initializer.Name, initializer))
            {
                throw new OnnxFormatException($"{source}: initializer '{initializer.Name}' is defined twice");
            }
        }

        if (graph.SparseInitializer.Count > 0)
        {
            throw new OnnxFormatException($"{source}: sparse initializer '{graph.SparseInitializer[0].Values?.Name}' is not supported");
        }

        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                if (_initializers.ContainsKey(output) || !_producers.TryAdd(output, node))
                {
                    throw new OnnxFormatException($"{source}: node '{node.Name}' ({node.OpType}) writes '{output}', which is already defined");
                }
            }

            for (var i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i].Length == 0)
                {
                    continue;
                }

                if (!_consumers.TryGetValue(node.Input[i], out var list))
                {
                    _consumers[node.Input[i]] = list = [];
                }

                list.Add((node, i));
            }

            if (node.OpType == "Constant" && node.Domain.Length == 0)
            {
                var value = node.Attribute.FirstOrDefault(a => a.Name == "value" && a.T is not null)?.T;
                if (value is not null && node.Output.Count == 1)
                {
                    OnnxTensorData.Validate(value, $"{source}: node '{node.Name}' (Constant)");
                    _constants[node.Output[0]] = value;
                }
            }
        }

        CheckOrder(graph);
    }

    /// <summary>The model.</summary>
    public ModelProto Model { get; }

    /// <summary>The graph.</summary>
    public GraphProto Graph => Model.Graph;

    /// <summary>Where the model came from (for messages).</summary>
    public string Source { get; }

    /// <summary>Initializers by name.</summary>
    public IReadOnlyDictionary<string, TensorProto> Initializers => _initializers;

    /// <summary>
    /// Parses and checks an ONNX model.
    /// </summary>
    /// <param name="bytes">The <c>.onnx</c> file's bytes.</param>
    /// <param name="source">The file or resource name, used in messages.</param>
    /// <exception cref="OnnxFormatException">The bytes are not a readable, self-contained, acyclic ONNX model.</exception>
    public static OnnxGraph Parse(byte[] bytes, string source)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException($"{source}: not a valid ONNX (protobuf) file: {e.Message}", e);
        }

        return new OnnxGraph(model, source);
    }

    /// <summary>Reads and parses the ONNX file at <paramref name="path"/> (see <see cref="Parse(byte[], string)"/>).</summary>
    public static OnnxGraph Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"ONNX file '{path}' does not exist", path);
        }

        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>The node that writes <paramref name="tensor"/>, or null for inputs and initializers.</summary>
    public NodeProto? Producer(string tensor) => _producers.GetValueOrDefault(tensor);

    /// <summary>The nodes that read <paramref name="tensor"/>, with the input slot.</summary>
    public IReadOnlyList<(NodeProto Node, int Input)> Consumers(string tensor) =>
        _consumers.TryGetValue(tensor, out var list) ? list : [];

    /// <summary>The value of <paramref name="tensor"/> when it is an initializer or a <c>Constant</c> node's output, else null.</summary>
    public TensorProto? ConstantValue(string tensor) =>
        _initializers.GetValueOrDefault(tensor) ?? _constants.GetValueOrDefault(tensor);

    /// <summary>True when some node, initializer or graph input already uses <paramref name="name"/>.</summary>
    public bool IsDefined(string name) =>
        _initializers.ContainsKey(name) || _producers.ContainsKey(name) || Graph.Input.Any(i => i.Name == name);

    /// <summary>A human-readable name for <paramref name="node"/>.</summary>
    public static string Describe(NodeProto node) => $"'{(node.Name.Length > 0 ? node.Name : string.Join(",", node.Output))}' ({node.OpType})";

    private void CheckOrder(GraphProto graph)
    {
        // Kahn's algorithm: every node must become ready once its inputs are available.
        var available = new HashSet<string>(_initializers.Keys, StringComparer.Ordinal);
        available.UnionWith(graph.Input.Select(i => i.Name));
        var waiting = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        var ready = new Queue<NodeProto>();
        foreach (var node in graph.Node)
        {
            var missing = node.Input.Count(i => i.Length > 0 && !available.Contains(i));
            foreach (var input in node.Input.Where(i => i.Length > 0 && !available.Contains(i) && !_producers.ContainsKey(i)))
            {
                throw new OnnxFormatException($"{Source}: node {Describe(node)} reads '{input}', which no node, graph input or initializer defines");
            }

            waiting[node] = missing;
            if (missing == 0)
            {
                ready.Enqueue(node);
            }
        }

        var done = 0;
        while (ready.Count > 0)
        {
            var node = ready.Dequeue();
            done++;
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                foreach (var (consumer, _) in Consumers(output))
                {
                    if (--waiting[consumer] == 0)
                    {
                        ready.Enqueue(consumer);
                    }
                }
            }
        }

        if (done < graph.Node.Count)
        {
            var stuck = graph.Node.First(n => waiting[n] > 0);
            throw new OnnxFormatException($"{Source}: the graph has a cycle through node {Describe(stuck)}");
        }

        foreach (var output in graph.Output.Where(o => !_producers.ContainsKey(o.Name) && !available.Contains(o.Name)))
        {
            throw new OnnxFormatException($"{Source}: graph output '{output.Name}' is not produced by any node");
        }
    }
}
