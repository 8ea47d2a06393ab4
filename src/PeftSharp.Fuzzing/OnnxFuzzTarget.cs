using Google.Protobuf;
using Onnx;
using PeftSharp.Onnx;
using static TorchSharp.torch;

namespace PeftSharp.Fuzzing;

/// <summary>
/// The ONNX BERT importer (<see cref="OnnxGraph"/>, <see cref="BertOnnxLayout"/>,
/// <see cref="BertOnnxImporter.ReadWeights"/>) over small random BERT graphs (<see cref="TinyBertOnnx"/>).
/// Structural mutations: truncation, tensor dimensions (huge, negative, extra), element types,
/// external-data references, cycles, renamed or removed initializers and nodes, changed constants
/// (head counts, epsilons), short or doubled tensor data, changed operators, duplicate names.
/// </summary>
public sealed class OnnxFuzzTarget : FuzzTarget
{
    private static readonly string[] Operators = ["MatMul", "Add", "Gemm", "Reshape", "Concat", "Loop", "If", "Identity", "Erf", "Relu", "Tanh", "LayerNormalization", "Constant", "Gather", ""];

    /// <inheritdoc />
    public override string Name => "onnx";

    /// <inheritdoc />
    public override string Description => "Feed the ONNX BERT importer mutated small BERT graphs and random bytes.";

    /// <inheritdoc />
    public override long AllocationConstant => 4L << 20;

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed) =>
    [
        TinyBertOnnx.Create(seed),
        TinyBertOnnx.Create(seed + 1, vocab: 12, hidden: 4, heads: 1, layers: 1, intermediate: 8, positions: 8),
        TinyBertOnnx.Create(seed + 2, vocab: 20, hidden: 6, heads: 3, layers: 3, intermediate: 6, positions: 4, pooler: false),
    ];

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        var layout = BertOnnxLayout.Analyze(OnnxGraph.Parse(input, "fuzz.onnx"));
        _ = BertOnnxImporter.CreateConfig(layout.Settings, "fuzz.onnx");
        using var scope = NewDisposeScope();
        return BertOnnxImporter.ReadWeights(layout).Values.Sum(t => t.numel() * t.ElementSize);
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        if (random.Next(8) == 0)
        {
            return random.Next(2) == 0 ? seed[..random.Next(seed.Length)] : FuzzMutators.Mutate(seed, random, seeds);
        }

        var model = ModelProto.Parser.ParseFrom(seed);
        var mutations = random.Next(1, 3);
        for (var m = 0; m < mutations; m++)
        {
            Mutate(model.Graph, random);
        }

        return model.ToByteArray();
    }

    private static void Mutate(GraphProto graph, Random random)
    {
        if (graph.Initializer.Count == 0 || graph.Node.Count == 0)
        {
            return;
        }

        var initializer = graph.Initializer[random.Next(graph.Initializer.Count)];
        var node = graph.Node[random.Next(graph.Node.Count)];
        switch (random.Next(12))
        {
            case 0:
                if (initializer.Dims.Count == 0 || random.Next(4) == 0)
                {
                    initializer.Dims.Add(random.Next(3));
                }
                else
                {
                    initializer.Dims[random.Next(initializer.Dims.Count)] = random.Next(6) switch
                    {
                        0 => 0,
                        1 => -1,
                        2 => 1L << 40,
                        3 => long.MaxValue,
                        4 => int.MaxValue,
                        _ => random.Next(1, 64),
                    };
                }

                break;
            case 1:
                initializer.DataType = random.Next(-2, 30);
                break;
            case 2:
                initializer.DataLocation = TensorProto.Types.DataLocation.External;
                if (random.Next(2) == 0)
                {
                    initializer.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/passwd" });
                }

                break;
            case 3:
                // A cycle: a node reads its own output or a later node's.
                var index = graph.Node.IndexOf(node);
                var later = graph.Node[random.Next(index, graph.Node.Count)];
                if (node.Input.Count > 0 && later.Output.Count > 0)
                {
                    node.Input[random.Next(node.Input.Count)] = later.Output[0];
                }

                break;
            case 4:
                initializer.Name = random.Next(3) switch
                {
                    0 => "onnx::MatMul_9" + random.Next(100),
                    1 => initializer.Name.Replace("bias", "weight", StringComparison.Ordinal),
                    _ => graph.Initializer[random.Next(graph.Initializer.Count)].Name,
                };
                break;
            case 5:
                if (random.Next(2) == 0)
                {
                    graph.Node.Remove(node);
                }
                else
                {
                    graph.Initializer.Remove(initializer);
                }

                break;
            case 6:
                // Change a small constant (head counts, shapes, epsilons, indices).
                var small = graph.Initializer.Where(t => t.Dims.Aggregate(1L, (a, b) => a * b) <= 4).ToList();
                var target = small.Count > 0 ? small[random.Next(small.Count)] : initializer;
                if (target.Int64Data.Count > 0)
                {
                    target.Int64Data[random.Next(target.Int64Data.Count)] = random.Next(4) switch { 0 => 0, 1 => -1, 2 => long.MinValue, _ => random.Next(-3, 20) };
                }
                else if (node.OpType == "Constant" && node.Attribute.FirstOrDefault()?.T is { } constant)
                {
                    OnnxTensorData.WriteFloats(constant, [random.Next(3) switch { 0 => float.NaN, 1 => -1f, _ => (float)random.NextDouble() }]);
                }

                break;
            case 7:
                if (initializer.RawData.Length > 0)
                {
                    initializer.RawData = random.Next(2) == 0
                        ? ByteString.CopyFrom(initializer.RawData.Span[..random.Next(initializer.RawData.Length)])
                        : ByteString.CopyFrom([.. initializer.RawData.Span, .. initializer.RawData.Span]);
                }
                else
                {
                    initializer.FloatData.Add(1f);
                }

                break;
            case 8:
                graph.Initializer.Add(initializer.Clone());
                break;
            case 9:
                node.OpType = Operators[random.Next(Operators.Length)];
                break;
            case 10:
                if (node.Input.Count > 1)
                {
                    (node.Input[0], node.Input[1]) = (node.Input[1], node.Input[0]);
                }
                else if (node.Output.Count > 0)
                {
                    node.Output[0] = graph.Node[random.Next(graph.Node.Count)].Output.FirstOrDefault() ?? "x";
                }

                break;
            default:
                // Values only: the model stays valid.
                if ((TensorProto.Types.DataType)initializer.DataType == TensorProto.Types.DataType.Float && initializer.RawData.Length >= 4)
                {
                    var bytes = initializer.RawData.ToByteArray();
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    initializer.RawData = ByteString.CopyFrom(bytes);
                }

                break;
        }
    }
}
