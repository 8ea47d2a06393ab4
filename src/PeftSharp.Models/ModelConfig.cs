using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using PeftSharp.IO;

namespace PeftSharp.Models;

/// <summary>
/// A Hugging Face <c>config.json</c>: the fields a family reads, plus the whole document so that
/// saving writes back everything the file had.
/// </summary>
public abstract class ModelConfig
{
    /// <summary>The file name Hugging Face uses.</summary>
    public const string FileName = "config.json";

    /// <summary>Reads the common fields from <paramref name="json"/>.</summary>
    protected ModelConfig(ConfigJson json)
    {
        Json = (JsonObject)json.Root.DeepClone();
        ModelType = json.String("model_type") ?? throw json.Error("model_type", "missing: the config must name its model type");
        Architectures = json.Strings("architectures") ?? [];
        var labels = new SortedDictionary<int, string>();
        if (json.Node("id2label") is JsonObject id2label)
        {
            foreach (var (key, value) in id2label)
            {
                if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || value is not JsonValue v || !v.TryGetValue<string>(out var name))
                {
                    throw json.Error($"id2label.{key}", "expected an integer key and a string label");
                }

                labels[id] = name;
            }
        }

        if (labels.Count > 0 && (labels.Keys.First() != 0 || labels.Keys.Last() != labels.Count - 1))
        {
            throw json.Error("id2label", "label ids must be 0, 1, …, n−1");
        }

        Labels = labels.Count > 0 ? labels.Values.ToList() : Enumerable.Range(0, json.Int("num_labels", 2)).Select(i => $"LABEL_{i}").ToList();
    }

    /// <summary>The whole document as read (written back by <see cref="Save"/>).</summary>
    public JsonObject Json { get; }

    /// <summary>Hugging Face <c>model_type</c>.</summary>
    public string ModelType { get; }

    /// <summary>Hugging Face <c>architectures</c> (the head class names).</summary>
    public IReadOnlyList<string> Architectures { get; }

    /// <summary>Class labels by id (from <c>id2label</c>, else <c>LABEL_i</c> for <c>num_labels</c>).</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Writes the document to <c>directory/config.json</c> atomically.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var text = Json.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), text + "\n");
    }

    /// <summary>Reads <c>path</c> (a directory or a config file) and returns the parsed JSON.</summary>
    public static ConfigJson LoadJson(string path) =>
        ConfigJson.Load(Directory.Exists(path) ? Path.Combine(path, FileName) : path);
}

/// <summary>BERT and RoBERTa (<c>model_type</c> <c>bert</c> or <c>roberta</c>).</summary>
public sealed class BertConfig : ModelConfig
{
    /// <summary>Reads the fields from parsed JSON.</summary>
    public BertConfig(ConfigJson json) : base(json)
    {
        if (ModelType is not ("bert" or "roberta"))
        {
            throw json.Error("model_type", $"'{ModelType}' is not bert or roberta");
        }

        VocabSize = Positive(json, "vocab_size", 30522);
        HiddenSize = Positive(json, "hidden_size", 768);
        NumHiddenLayers = Positive(json, "num_hidden_layers", 12);
        NumAttentionHeads = Positive(json, "num_attention_heads", 12);
        IntermediateSize = Positive(json, "intermediate_size", 3072);
        HiddenAct = json.String("hidden_act", "gelu")!;
        HiddenDropout = json.Double("hidden_dropout_prob", 0.1);
        AttentionDropout = json.Double("attention_probs_dropout_prob", 0.1);
        ClassifierDropout = json.Has("classifier_dropout") ? json.Double("classifier_dropout", HiddenDropout) : HiddenDropout;
        MaxPositionEmbeddings = Positive(json, "max_position_embeddings", 512);
        TypeVocabSize = json.Int("type_vocab_size", 2);
        LayerNormEps = json.Double("layer_norm_eps", 1e-12);
        PadTokenId = json.Int("pad_token_id", IsRoberta ? 1 : 0);
        var embedding = json.String("position_embedding_type", "absolute");
        if (embedding != "absolute")
        {
            throw json.Error("position_embedding_type", $"'{embedding}' is not supported (only absolute)");
        }

        if (HiddenSize % NumAttentionHeads != 0)
        {
            throw json.Error("num_attention_heads", $"hidden_size {HiddenSize} is not a multiple of {NumAttentionHeads} heads");
        }

        Activations.Check(HiddenAct, json, "hidden_act");
    }

    /// <summary>True for RoBERTa (position ids start after the padding index).</summary>
    public bool IsRoberta => ModelType == "roberta";

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>Hidden size.</summary>
    public int HiddenSize { get; }

    /// <summary>Number of layers.</summary>
    public int NumHiddenLayers { get; }

    /// <summary>Attention heads.</summary>
    public int NumAttentionHeads { get; }

    /// <summary>Feed-forward size.</summary>
    public int IntermediateSize { get; }

    /// <summary>Activation (<c>gelu</c>, <c>gelu_new</c>, <c>relu</c>, ...).</summary>
    public string HiddenAct { get; }

    /// <summary>Dropout on hidden states.</summary>
    public double HiddenDropout { get; }

    /// <summary>Dropout on attention probabilities.</summary>
    public double AttentionDropout { get; }

    /// <summary>Dropout before the classifier.</summary>
    public double ClassifierDropout { get; }

    /// <summary>Position table size.</summary>
    public int MaxPositionEmbeddings { get; }

    /// <summary>Token type table size.</summary>
    public int TypeVocabSize { get; }

    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; }

    /// <summary>Padding token id.</summary>
    public int PadTokenId { get; }

    /// <summary>Reads a BERT/RoBERTa config from a directory or file.</summary>
    public static BertConfig Load(string path) => new(LoadJson(path));

    internal static int Positive(ConfigJson json, string field, int fallback)
    {
        var value = json.Int(field, fallback);
        return value > 0 ? value : throw json.Error(field, $"must be positive, got {value}");
    }
}

/// <summary>GPT-2 (<c>model_type</c> <c>gpt2</c>).</summary>
public sealed class Gpt2Config : ModelConfig
{
    /// <summary>Reads the fields from parsed JSON.</summary>
    public Gpt2Config(ConfigJson json) : base(json)
    {
        if (ModelType != "gpt2")
        {
            throw json.Error("model_type", $"'{ModelType}' is not gpt2");
        }

        VocabSize = BertConfig.Positive(json, "vocab_size", 50257);
        NEmbd = BertConfig.Positive(json, "n_embd", 768);
        NLayer = BertConfig.Positive(json, "n_layer", 12);
        NHead = BertConfig.Positive(json, "n_head", 12);
        NPositions = BertConfig.Positive(json, "n_positions", 1024);
        NInner = json.Has("n_inner") ? BertConfig.Positive(json, "n_inner", 4 * NEmbd) : 4 * NEmbd;
        ActivationFunction = json.String("activation_function", "gelu_new")!;
        LayerNormEpsilon = json.Double("layer_norm_epsilon", 1e-5);
        ResidDropout = json.Double("resid_pdrop", 0.1);
        EmbdDropout = json.Double("embd_pdrop", 0.1);
        AttnDropout = json.Double("attn_pdrop", 0.1);
        ScaleAttnWeights = json.Bool("scale_attn_weights", true);
        if (json.Bool("scale_attn_by_inverse_layer_idx", false) || json.Bool("reorder_and_upcast_attn", false))
        {
            throw json.Error("scale_attn_by_inverse_layer_idx", "scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
        }

        if (!json.Bool("tie_word_embeddings", true))
        {
            throw json.Error("tie_word_embeddings", "only tied input/output embeddings are supported");
        }

        BosTokenId = json.Int("bos_token_id", 50256);
        EosTokenId = json.Int("eos_token_id", 50256);
        if (NEmbd % NHead != 0)
        {
            throw json.Error("n_head", $"n_embd {NEmbd} is not a multiple of {NHead} heads");
        }

        Activations.Check(ActivationFunction, json, "activation_function");
    }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>Hidden size.</summary>
    public int NEmbd { get; }

    /// <summary>Layers.</summary>
    public int NLayer { get; }

    /// <summary>Heads.</summary>
    public int NHead { get; }

    /// <summary>Context length.</summary>
    public int NPositions { get; }

    /// <summary>Feed-forward size.</summary>
    public int NInner { get; }

    /// <summary>Activation (<c>gelu_new</c> by default).</summary>
    public string ActivationFunction { get; }

    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEpsilon { get; }

    /// <summary>Residual dropout.</summary>
    public double ResidDropout { get; }

    /// <summary>Embedding dropout.</summary>
    public double EmbdDropout { get; }

    /// <summary>Attention dropout.</summary>
    public double AttnDropout { get; }

    /// <summary>Scale attention scores by 1/√head_dim.</summary>
    public bool ScaleAttnWeights { get; }

    /// <summary>Beginning-of-sequence token.</summary>
    public int BosTokenId { get; }

    /// <summary>End-of-sequence token.</summary>
    public int EosTokenId { get; }

    /// <summary>Reads a GPT-2 config from a directory or file.</summary>
    public static Gpt2Config Load(string path) => new(LoadJson(path));
}
