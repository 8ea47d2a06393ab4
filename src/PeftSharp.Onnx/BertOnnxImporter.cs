using System.Text.Encodings.Web;
using static TorchSharp.torch;

namespace PeftSharp.Onnx;

/// <summary>
/// Turns a BERT-family ONNX encoder and its <c>vocab.txt</c> into a Hugging Face model directory
/// (<c>config.json</c>, <c>model.safetensors</c> with <c>bert.</c> names, <c>vocab.txt</c>,
/// <c>tokenizer_config.json</c>) that PeftSharp's BERT loader reads; the original graph is kept as
/// <c>model.onnx</c> so that <see cref="BertOnnxExporter"/> can write fine-tuned weights back into it.
/// </summary>
public static class BertOnnxImporter
{
    /// <summary>The name of the original graph inside an imported model directory.</summary>
    public const string OnnxFileName = "model.onnx";

    /// <summary>The prefix of the encoder's weights in the written checkpoint (Hugging Face's <c>base_model_prefix</c> for BERT).</summary>
    public const string CheckpointPrefix = "bert.";

    /// <summary>The encoder weights of <paramref name="layout"/> under their Hugging Face names (with <see cref="CheckpointPrefix"/>), in the <c>(out, in)</c> layout.</summary>
    /// <remarks>The tensors are created in the caller's dispose scope.</remarks>
    public static Dictionary<string, Tensor> ReadWeights(BertOnnxLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var weight in layout.Weights)
        {
            var proto = layout.Graph.Initializers[weight.Initializer];
            var values = OnnxTensorData.ReadFloats(proto, $"{layout.Graph.Source}: initializer '{weight.Initializer}'");
            var stored = tensor(values, proto.Dims.ToArray());
            tensors[CheckpointPrefix + weight.Name] = weight.Transposed ? stored.t().contiguous() : stored;
        }

        return tensors;
    }

    /// <summary>The Hugging Face <c>config.json</c> for <paramref name="settings"/>.</summary>
    public static JsonObject CreateConfig(BertOnnxSettings settings, string source)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new JsonObject
        {
            ["_name_or_path"] = source,
            ["architectures"] = new JsonArray("BertModel"),
            ["model_type"] = "bert",
            ["vocab_size"] = settings.VocabSize,
            ["hidden_size"] = settings.HiddenSize,
            ["num_hidden_layers"] = settings.NumHiddenLayers,
            ["num_attention_heads"] = settings.NumAttentionHeads,
            ["intermediate_size"] = settings.IntermediateSize,
            ["hidden_act"] = settings.HiddenAct,
            ["hidden_dropout_prob"] = 0.1,
            ["attention_probs_dropout_prob"] = 0.1,
            ["max_position_embeddings"] = settings.MaxPositionEmbeddings,
            ["type_vocab_size"] = settings.TypeVocabSize,
            ["layer_norm_eps"] = settings.LayerNormEps,
            ["pad_token_id"] = 0,
            ["position_embedding_type"] = "absolute",
        };
    }

    /// <summary>
    /// Writes the Hugging Face directory for the ONNX model <paramref name="onnx"/> and
    /// <paramref name="vocab"/> to <paramref name="outputDirectory"/> (replaced atomically).
    /// </summary>
    /// <param name="onnx">The <c>.onnx</c> file's bytes.</param>
    /// <param name="vocab">The WordPiece <c>vocab.txt</c> bytes.</param>
    /// <param name="outputDirectory">The model directory to write.</param>
    /// <param name="source">Where the model came from (for messages and <c>_name_or_path</c>).</param>
    /// <returns>The layout that was imported.</returns>
    /// <exception cref="OnnxFormatException">The ONNX model cannot be read or mapped, or the vocabulary does not fit it.</exception>
    public static BertOnnxLayout Import(byte[] onnx, byte[] vocab, string outputDirectory, string source)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        var layout = BertOnnxLayout.Analyze(OnnxGraph.Parse(onnx, source));
        var tokens = Encoding.UTF8.GetString(vocab).Split('\n').Select(t => t.TrimEnd('\r')).ToList();
        if (tokens.Count > 0 && tokens[^1].Length == 0)
        {
            tokens.RemoveAt(tokens.Count - 1);
        }

        if (tokens.Count != layout.Settings.VocabSize)
        {
            throw new OnnxFormatException($"{source}: the vocabulary has {tokens.Count} tokens but the word embeddings have {layout.Settings.VocabSize} rows");
        }

        var lowerCase = !tokens.Any(t => !t.StartsWith('[') && t.Any(char.IsUpper));
        AtomicDirectory.Replace(outputDirectory, staging =>
        {
            using (var scope = NewDisposeScope())
            {
                SafetensorsWriter.Save(Path.Combine(staging, SafetensorsCheckpoint.SingleFileName), ReadWeights(layout), new Dictionary<string, string> { ["format"] = "pt" });
            }

            var options = new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            File.WriteAllText(Path.Combine(staging, "config.json"), CreateConfig(layout.Settings, source).ToJsonString(options) + "\n");
            var tokenizer = new JsonObject
            {
                ["do_lower_case"] = lowerCase,
                ["model_max_length"] = layout.Settings.MaxPositionEmbeddings,
                ["tokenizer_class"] = "BertTokenizer",
            };
            File.WriteAllText(Path.Combine(staging, "tokenizer_config.json"), tokenizer.ToJsonString(options) + "\n");
            File.WriteAllBytes(Path.Combine(staging, "vocab.txt"), vocab);
            File.WriteAllBytes(Path.Combine(staging, OnnxFileName), onnx);
            File.WriteAllText(Path.Combine(staging, "README.md"), string.Create(CultureInfo.InvariantCulture,
                $"# Imported from {source}\n\nWritten by `peft import-onnx`: the weights of the ONNX graph under their Hugging Face names (linear weights transposed back from the MatMul layout). `{OnnxFileName}` is the original graph, used by `peft export-onnx`.\n\n{layout.Settings.NumHiddenLayers} layers, hidden {layout.Settings.HiddenSize}, {layout.Settings.NumAttentionHeads} heads, feed-forward {layout.Settings.IntermediateSize}, vocabulary {layout.Settings.VocabSize}.\n"));
        });
        return layout;
    }
}
