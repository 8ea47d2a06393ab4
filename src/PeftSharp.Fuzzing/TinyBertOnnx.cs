using Google.Protobuf;
using Onnx;
using PeftSharp.Onnx;
using AttributeType = Onnx.AttributeProto.Types.AttributeType;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PeftSharp.Fuzzing;

/// <summary>
/// Builds a small random BERT encoder as an ONNX graph laid out the way PyTorch's exporter writes
/// one: named embeddings, biases and layer norms; linear weights renamed to numbers and stored
/// transposed for <c>MatMul</c>; layer norm decomposed with its epsilon as a constant; erf GELU;
/// the head split by a reshape to <c>[0, 0, heads, head_dim]</c>; pooler as <c>Gemm</c> + <c>Tanh</c>.
/// The graph computes BERT exactly (ONNX Runtime runs it), so it serves as a fuzz seed and a test model.
/// </summary>
public sealed class TinyBertOnnx
{
    private readonly GraphProto _graph = new() { Name = "tiny-bert" };
    private readonly Random _random;
    private int _next;

    private TinyBertOnnx(int seed) => _random = new Random(seed);

    /// <summary>The layer-norm epsilon the graph uses.</summary>
    public const float LayerNormEps = 1e-12f;

    /// <summary>Builds the model and returns the serialized <c>.onnx</c> bytes.</summary>
    /// <param name="seed">Seeds the random weights.</param>
    /// <param name="vocab">Vocabulary size.</param>
    /// <param name="hidden">Hidden size.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="layers">Encoder layers.</param>
    /// <param name="intermediate">Feed-forward size.</param>
    /// <param name="positions">Position table size.</param>
    /// <param name="pooler">Whether the graph ends with the pooler (a second output, <c>pooler_output</c>).</param>
    public static byte[] Create(int seed, int vocab = 40, int hidden = 8, int heads = 2, int layers = 2, int intermediate = 16, int positions = 16, bool pooler = true)
    {
        var builder = new TinyBertOnnx(seed);
        var model = new ModelProto { IrVersion = 7, ProducerName = "PeftSharp.Fuzzing", Graph = builder.Build(vocab, hidden, heads, layers, intermediate, positions, pooler) };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 13 });
        return model.ToByteArray();
    }

    /// <summary>A <c>vocab.txt</c> of <paramref name="size"/> tokens (<c>[PAD]</c>, <c>[UNK]</c>, <c>[CLS]</c>, <c>[SEP]</c>, <c>[MASK]</c>, then letters and words).</summary>
    public static byte[] Vocabulary(int size = 40)
    {
        var tokens = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        tokens.AddRange("abcdefghijklmnopqrstuvwxyz".Select(c => c.ToString()));
        tokens.AddRange(["the", "cat", "sat", "on", "mat", "dog", "ran", "##s", "##ed"]);
        while (tokens.Count < size)
        {
            tokens.Add($"w{tokens.Count}");
        }

        return System.Text.Encoding.UTF8.GetBytes(string.Join("\n", tokens.Take(size)) + "\n");
    }

    private GraphProto Build(int vocab, int hidden, int heads, int layers, int intermediate, int positions, bool pooler)
    {
        foreach (var name in new[] { "input_ids", "attention_mask", "token_type_ids" })
        {
            _graph.Input.Add(ValueInfo(name, DataType.Int64, "batch", "sequence"));
        }

        // Additive mask (1 − mask) · −10000 as (batch, 1, 1, T).
        var mask = Op("Cast", ["attention_mask"], Int("to", (long)DataType.Float));
        mask = Op("Reshape", [mask, Ints("mask_shape", 0, 1, 1, -1)]);
        mask = Op("Mul", [Op("Sub", [Scalar(1f), mask]), Scalar(-10000f)]);

        // Embeddings: word + token type + position (positions sliced to the sequence length).
        var length = Op("Unsqueeze", [Op("Gather", [Op("Shape", ["input_ids"]), IntScalar(1)], Int("axis", 0)), Ints(null, 0)]);
        var positionIds = Init("embeddings.position_ids", [1, positions], Enumerable.Range(0, positions).Select(i => (long)i).ToArray());
        var sliced = Op("Slice", [positionIds, Ints(null, 0), length, Ints(null, 1)]);
        var x = Op("Add", [Op("Gather", [Weight("embeddings.word_embeddings.weight", vocab, hidden), "input_ids"]), Op("Gather", [Weight("embeddings.token_type_embeddings.weight", 2, hidden), "token_type_ids"])]);
        x = Op("Add", [x, Op("Gather", [Weight("embeddings.position_embeddings.weight", positions, hidden), sliced])]);
        x = LayerNorm(x, "embeddings.LayerNorm", hidden);

        var headDim = hidden / heads;
        for (var i = 0; i < layers; i++)
        {
            var p = $"encoder.layer.{i}.";
            string Heads(string t) => Op("Reshape", [t, Ints(null, 0, 0, heads, headDim)]);
            var q = Op("Transpose", [Heads(Linear(x, p + "attention.self.query", hidden, hidden))], Perm(0, 2, 1, 3));
            var k = Op("Transpose", [Heads(Linear(x, p + "attention.self.key", hidden, hidden))], Perm(0, 2, 3, 1));
            var v = Op("Transpose", [Heads(Linear(x, p + "attention.self.value", hidden, hidden))], Perm(0, 2, 1, 3));
            var scores = Op("Add", [Op("Div", [Op("MatMul", [q, k]), Scalar(MathF.Sqrt(headDim))]), mask]);
            var context = Op("Transpose", [Op("MatMul", [Op("Softmax", [scores], Int("axis", -1)), v])], Perm(0, 2, 1, 3));
            context = Op("Reshape", [context, Ints(null, 0, 0, hidden)]);
            var attended = LayerNorm(Op("Add", [Linear(context, p + "attention.output.dense", hidden, hidden), x]), p + "attention.output.LayerNorm", hidden);
            var up = Linear(attended, p + "intermediate.dense", hidden, intermediate);
            var gelu = Op("Mul", [Op("Mul", [up, Op("Add", [Op("Erf", [Op("Div", [up, Scalar(MathF.Sqrt(2f))])]), Scalar(1f)])]), Scalar(0.5f)]);
            x = LayerNorm(Op("Add", [Linear(gelu, p + "output.dense", intermediate, hidden), attended]), p + "output.LayerNorm", hidden);
        }

        var hiddenState = Op("Identity", [x]);
        Rename(hiddenState, "last_hidden_state");
        _graph.Output.Add(ValueInfo("last_hidden_state", DataType.Float, "batch", "sequence", hidden.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (pooler)
        {
            var first = Op("Gather", ["last_hidden_state", IntScalar(0)], Int("axis", 1));
            var pooled = Op("Tanh", [Op("Gemm", [first, Weight("pooler.dense.weight", hidden, hidden), Weight("pooler.dense.bias", hidden)], Int("transB", 1))]);
            Rename(pooled, "pooler_output");
            _graph.Output.Add(ValueInfo("pooler_output", DataType.Float, "batch", hidden.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        return _graph;
    }

    private string Linear(string x, string name, int inFeatures, int outFeatures)
    {
        // The exporter's layout: a numbered (in, out) weight for MatMul, then Add(bias, ·).
        var weight = Weight($"onnx::MatMul_{1000 + _next++}", inFeatures, outFeatures);
        return Op("Add", [Weight(name + ".bias", outFeatures), Op("MatMul", [x, weight])]);
    }

    private string LayerNorm(string x, string name, int hidden)
    {
        var centered = Op("Sub", [x, Op("ReduceMean", [x], IntList("axes", -1L))]);
        var variance = Op("ReduceMean", [Op("Pow", [centered, Scalar(2f)])], IntList("axes", -1L));
        var normalized = Op("Div", [centered, Op("Sqrt", [Op("Add", [variance, Scalar(LayerNormEps)])])]);
        var weight = Init(name + ".weight", [hidden], Enumerable.Range(0, hidden).Select(_ => 1f + (float)(_random.NextDouble() - 0.5) * 0.2f).ToArray());
        return Op("Add", [Op("Mul", [normalized, weight]), Weight(name + ".bias", hidden)]);
    }

    private string Weight(string name, params long[] dims) =>
        Init(name, dims, Enumerable.Range(0, (int)dims.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(_random.NextDouble() * 2 - 1) * 0.5f).ToArray());

    private string Init(string name, long[] dims, float[] values)
    {
        _graph.Initializer.Add(OnnxTensorData.CreateFloats(name, dims, values));
        return name;
    }

    private string Init(string name, long[] dims, long[] values)
    {
        _graph.Initializer.Add(OnnxTensorData.CreateIntegers(name, dims, values));
        return name;
    }

    private string Scalar(float value)
    {
        var name = $"c{_next++}";
        var node = new NodeProto { OpType = "Constant", Name = $"Constant_{_next++}" };
        node.Output.Add(name);
        node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = OnnxTensorData.CreateFloats(string.Empty, [], [value]) });
        _graph.Node.Add(node);
        return name;
    }

    private string IntScalar(long value)
    {
        var name = $"c{_next++}";
        _graph.Initializer.Add(OnnxTensorData.CreateIntegers(name, [], [value]));
        return name;
    }

    private string Ints(string? name, params long[] values)
    {
        name ??= $"{_next++}";
        _graph.Initializer.Add(OnnxTensorData.CreateIntegers(name, [values.Length], values));
        return name;
    }

    private static AttributeProto IntList(string attribute, params long[] values)
    {
        var proto = new AttributeProto { Name = attribute, Type = AttributeType.Ints };
        proto.Ints.AddRange(values);
        return proto;
    }

    private static AttributeProto Perm(params long[] values) => IntList("perm", values);

    private static AttributeProto Int(string attribute, long value) => new() { Name = attribute, Type = AttributeType.Int, I = value };

    private string Op(string op, string[] inputs, params AttributeProto[] attributes)
    {
        var id = _next++;
        var node = new NodeProto { OpType = op, Name = $"{op}_{id}" };
        node.Input.AddRange(inputs);
        node.Output.Add($"t{id}");
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return $"t{id}";
    }

    private void Rename(string tensor, string name)
    {
        foreach (var node in _graph.Node)
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == tensor)
                {
                    node.Output[i] = name;
                }
            }

            for (var i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == tensor)
                {
                    node.Input[i] = name;
                }
            }
        }
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, params string[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(long.TryParse(dim, out var value) ? new TensorShapeProto.Types.Dimension { DimValue = value } : new TensorShapeProto.Types.Dimension { DimParam = dim });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}
