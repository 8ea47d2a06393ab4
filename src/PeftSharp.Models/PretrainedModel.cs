using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>What a model's output logits mean.</summary>
public enum ModelTask
{
    /// <summary><c>(batch, labels)</c> class logits.</summary>
    SequenceClassification,

    /// <summary><c>(batch, T, vocab)</c> logits for masked positions.</summary>
    MaskedLanguageModeling,

    /// <summary><c>(batch, T, vocab)</c> next-token logits.</summary>
    CausalLanguageModeling,
}

/// <summary>
/// A Hugging Face architecture implemented in TorchSharp with Hugging Face's parameter names, so
/// that <c>config.json</c> + <c>model.safetensors</c> load without conversion.
/// </summary>
public abstract class PretrainedModel : nn.Module, IModelTypeProvider, IOutputHeadProvider, IModelNameProvider
{
    /// <summary>Creates the model.</summary>
    protected PretrainedModel(string name, ModelConfig config) : base(name)
    {
        Config = config;
    }

    /// <summary>The configuration.</summary>
    public ModelConfig Config { get; }

    /// <summary>What the logits mean.</summary>
    public abstract ModelTask Task { get; }

    /// <summary>The Hugging Face class name (<c>BertForSequenceClassification</c>, ...), written to <c>architectures</c>.</summary>
    public abstract string ArchitectureName { get; }

    /// <inheritdoc />
    public string ModelType => Config.ModelType;

    /// <inheritdoc />
    public abstract IReadOnlyList<string> OutputHeadNames { get; }

    /// <summary>The logits for a batch of token ids <c>(batch, T)</c>; masks are 1 for real tokens, 0 for padding.</summary>
    public abstract Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null);

    /// <summary>
    /// Rewrites the module names of a training preset, which are written in BERT's names
    /// (<c>query</c>, <c>key</c>, <c>value</c>, <c>dense</c>, …), to this architecture's equivalent
    /// modules (DeBERTa-v2: <c>query_proj</c>, <c>key_proj</c>, <c>value_proj</c>). Regex and
    /// <c>all-linear</c> targets are left as they are.
    /// </summary>
    public void UseOwnTargetNames(AdapterConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.TargetModules is { Kind: TargetModulesKind.Names } targets)
        {
            config.TargetModules = TargetModules.FromNames([.. targets.Names.Select(EquivalentTargetName)]);
        }
    }

    /// <summary>This architecture's name for the module BERT calls <paramref name="bertName"/> (the same name by default).</summary>
    protected virtual string EquivalentTargetName(string bertName) => bertName;

    /// <summary>
    /// Where the model came from, recorded by adapters as <c>base_model_name_or_path</c>: the Hugging Face
    /// id in <c>config.json</c>'s <c>_name_or_path</c> when it holds one, else the name of the directory
    /// it was loaded from; null for a model built in code.
    /// </summary>
    public string? NameOrPath { get; set; }

    /// <summary>Maps a checkpoint tensor name to this model's name, or null to skip it (tied copies, non-persistent buffers).</summary>
    protected internal abstract string? MapCheckpointName(string name);

    /// <summary>True for model names a checkpoint may omit (for example a head that a base checkpoint lacks is not among them; tied weights are).</summary>
    protected internal virtual bool MayBeMissing(string name) => false;

    /// <summary>
    /// Writes <c>config.json</c> and <c>model.safetensors</c> (Hugging Face names) to
    /// <paramref name="directory"/>, atomically per file; floating tensors are stored as
    /// <paramref name="dtype"/> when given (loading converts back to the model's dtype).
    /// </summary>
    public void SavePretrained(string directory, ScalarType? dtype = null)
    {
        Config.Json["architectures"] = new System.Text.Json.Nodes.JsonArray(ArchitectureName);
        using var scope = NewDisposeScope();
        var tensors = state_dict().ToDictionary(
            kv => kv.Key,
            kv => dtype is { } d && kv.Value.is_floating_point() ? kv.Value.detach().to(d) : kv.Value);
        SafetensorsWriter.Save(Path.Combine(directory, SafetensorsCheckpoint.SingleFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        Config.Save(directory);
    }

    /// <summary>
    /// Builds the model <paramref name="directory"/>'s <c>config.json</c> describes (by its first
    /// architecture, else its model type) and loads its weights.
    /// </summary>
    /// <param name="directory">A Hugging Face model directory.</param>
    /// <param name="strict">When false, names missing from the checkpoint (a new head) or unknown to the model are tolerated and listed in <paramref name="report"/>.</param>
    /// <param name="report">What was loaded, missing and unexpected.</param>
    /// <exception cref="WeightsLoadException">Strict loading found missing, unexpected or mis-shaped tensors.</exception>
    /// <exception cref="ConfigFormatException">The config is malformed or names an architecture PeftSharp does not implement.</exception>
    public static PretrainedModel FromPretrained(string directory, bool strict, out WeightsLoadReport report) =>
        FromPretrained(directory, null, strict, out report);

    /// <summary>
    /// Builds the model <paramref name="directory"/>'s <c>config.json</c> describes and loads its
    /// weights, holding them in <paramref name="dtype"/> (null: float32). Tensors stream from the
    /// checkpoint into the parameters one at a time, converted as they are copied.
    /// </summary>
    /// <param name="directory">A Hugging Face model directory.</param>
    /// <param name="dtype">The dtype of the base weights (float32, bfloat16 or float16), or null for float32.</param>
    /// <param name="strict">When false, names missing from the checkpoint or unknown to the model are tolerated and listed in <paramref name="report"/>.</param>
    /// <param name="report">What was loaded, missing and unexpected.</param>
    /// <exception cref="WeightsLoadException">Strict loading found missing, unexpected or mis-shaped tensors.</exception>
    /// <exception cref="ConfigFormatException">The config is malformed or names an architecture PeftSharp does not implement.</exception>
    public static PretrainedModel FromPretrained(string directory, ScalarType? dtype, bool strict, out WeightsLoadReport report)
    {
        var model = Create(ModelConfig.LoadJson(directory), dtype);
        report = ModelWeights.Load(model, directory, model.MapCheckpointName, strict, model.MayBeMissing);
        model.NameOrPath = NameOrPathOf(model.Config, directory);
        if (model is Decoders.DecoderForCausalLM decoder)
        {
            decoder.EosTokenIds = Decoders.GenerationConfig.EosTokenIds(directory) ?? decoder.EosTokenIds;
        }

        model.eval();
        return model;
    }

    /// <summary>The Hugging Face id of <c>_name_or_path</c> (<c>owner/name</c>, not a local path), else the directory's name.</summary>
    private static string NameOrPathOf(ModelConfig config, string directory)
    {
        if (config.Json["_name_or_path"] is System.Text.Json.Nodes.JsonValue value && value.TryGetValue<string>(out var id)
            && id.Count(c => c == '/') == 1 && !id.StartsWith('.') && !id.StartsWith('/') && !id.Contains('\\', StringComparison.Ordinal) && !Path.IsPathRooted(id))
        {
            return id;
        }

        return Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
    }

    /// <summary>Loads a model strictly (see <see cref="FromPretrained(string, bool, out WeightsLoadReport)"/>).</summary>
    public static PretrainedModel FromPretrained(string directory) => FromPretrained(directory, strict: true, out _);

    /// <summary>Builds a randomly initialised model from the <c>config.json</c> at <paramref name="path"/> (a directory or the file).</summary>
    public static PretrainedModel Create(string path) => Create(ModelConfig.LoadJson(path));

    /// <summary>
    /// A sequence classifier over <paramref name="labels"/> built on the encoder saved in
    /// <paramref name="baseDirectory"/> (for example a masked-LM checkpoint): the encoder weights are
    /// loaded, the classifier (and BERT's pooler, when the checkpoint has none) start random.
    /// </summary>
    /// <exception cref="WeightsLoadException">Encoder weights other than the head are missing or mis-shaped.</exception>
    public static PretrainedModel ForSequenceClassification(string baseDirectory, IReadOnlyList<string> labels, out WeightsLoadReport report)
    {
        var json = ModelConfig.LoadJson(baseDirectory);
        var root = (System.Text.Json.Nodes.JsonObject)json.Root.DeepClone();
        var modelType = StringValue(json, root["model_type"], "model_type");
        root["architectures"] = new System.Text.Json.Nodes.JsonArray(SequenceClassificationArchitecture(modelType));
        root["id2label"] = new System.Text.Json.Nodes.JsonObject(labels.Select((l, i) => KeyValuePair.Create(i.ToString(System.Globalization.CultureInfo.InvariantCulture), (System.Text.Json.Nodes.JsonNode?)l)));
        root["label2id"] = new System.Text.Json.Nodes.JsonObject(labels.Select((l, i) => KeyValuePair.Create(l, (System.Text.Json.Nodes.JsonNode?)i)));
        root.Remove("num_labels");
        var model = Create(new ConfigJson(root, json.Path));
        report = ModelWeights.Load(model, baseDirectory, model.MapCheckpointName, strict: false);
        model.NameOrPath = NameOrPathOf(model.Config, baseDirectory);
        var missing = report.Missing.Where(n => !n.StartsWith("classifier.", StringComparison.Ordinal) && !n.StartsWith("pooler.", StringComparison.Ordinal) && !n.Contains(".pooler.", StringComparison.Ordinal)).ToList();
        if (missing.Count > 0)
        {
            throw new WeightsLoadException($"{baseDirectory}: the checkpoint lacks encoder weights: {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? $", … ({missing.Count - 10} more)" : string.Empty)}");
        }

        model.eval();
        return model;
    }

    private static string SequenceClassificationArchitecture(string? modelType) => modelType switch
    {
        "roberta" => "RobertaForSequenceClassification",
        "deberta-v2" => "DebertaV2ForSequenceClassification",
        _ => "BertForSequenceClassification",
    };

    /// <summary>Builds a randomly initialised model from a parsed <c>config.json</c>.</summary>
    public static PretrainedModel Create(ConfigJson json) => Create(json, null);

    /// <summary>Builds a randomly initialised model from a parsed <c>config.json</c> with its weights in <paramref name="dtype"/> (null: float32).</summary>
    /// <exception cref="ConfigFormatException">The config is malformed or names an architecture PeftSharp does not implement.</exception>
    public static PretrainedModel Create(ConfigJson json, ScalarType? dtype)
    {
        var config = ReadConfig(json);
        var architecture = config.Architectures.Count > 0 ? config.Architectures[0] : null;
        if (config is Decoders.DecoderConfig decoder)
        {
            return new Decoders.DecoderForCausalLM(decoder, dtype ?? ScalarType.Float32);
        }

        PretrainedModel model = config switch
        {
            BertConfig bert when architecture == "BertForMaskedLM" => new BertForMaskedLM(bert),
            BertConfig bert when architecture == "RobertaForMaskedLM" => new RobertaForMaskedLM(bert),
            BertConfig bert when architecture == "RobertaForSequenceClassification" || (architecture is null && bert.IsRoberta) => new RobertaForSequenceClassification(bert),
            BertConfig bert => new BertForSequenceClassification(bert),
            Gpt2Config gpt2 => new Gpt2LMHeadModel(gpt2),
            DebertaV2Config deberta when architecture == "DebertaV2ForMaskedLM" => new DebertaV2ForMaskedLM(deberta),
            DebertaV2Config deberta => new DebertaV2ForSequenceClassification(deberta),
            _ => throw json.Error("architectures", $"'{architecture}' is not implemented"),
        };
        if (dtype is { } d && d != ScalarType.Float32)
        {
            TorchSharp.ModuleExtensionMethods.to(model, d);
        }

        return model;
    }

    /// <summary>
    /// Reads a parsed <c>config.json</c> through the configuration class of the family it names (by
    /// its first architecture, else its model type) without building a model: a
    /// <see cref="BertConfig"/>, <see cref="Gpt2Config"/>, <see cref="DebertaV2Config"/> or
    /// <see cref="Decoders.DecoderConfig"/>.
    /// </summary>
    /// <exception cref="ConfigFormatException">The config is malformed or names an architecture PeftSharp does not implement; the message names the file and the field.</exception>
    public static ModelConfig ReadConfig(ConfigJson json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var architecture = json.Root["architectures"] is System.Text.Json.Nodes.JsonArray { Count: > 0 } names ? StringValue(json, names[0], "architectures[0]") : null;
        var modelType = StringValue(json, json.Root["model_type"], "model_type");
        return (architecture, modelType) switch
        {
            ("LlamaForCausalLM" or "MistralForCausalLM" or "Qwen2ForCausalLM" or "Qwen3ForCausalLM" or "Phi3ForCausalLM", _)
                or (null, "llama" or "mistral" or "qwen2" or "qwen3" or "phi3") => new Decoders.DecoderConfig(json),
            ("BertForSequenceClassification" or "BertForMaskedLM" or "BertModel", _) or (null, "bert") => BertConfig.Read(json),
            ("RobertaForSequenceClassification" or "RobertaForMaskedLM" or "RobertaModel", _) or (null, "roberta") => BertConfig.Read(json),
            ("GPT2LMHeadModel", _) or (null, "gpt2") => Gpt2Config.Read(json),
            ("DebertaV2ForSequenceClassification" or "DebertaV2ForMaskedLM", _) or (null, "deberta-v2") => new DebertaV2Config(json),
            _ => throw json.Error(
                architecture is null ? "model_type" : "architectures",
                $"'{architecture ?? modelType}' is not implemented (BertModel, BertForSequenceClassification, BertForMaskedLM, RobertaModel, RobertaForSequenceClassification, RobertaForMaskedLM, GPT2LMHeadModel, DebertaV2ForSequenceClassification, DebertaV2ForMaskedLM, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM)"),
        };
    }

    private static string? StringValue(ConfigJson json, System.Text.Json.Nodes.JsonNode? node, string field) => node switch
    {
        null => null,
        System.Text.Json.Nodes.JsonValue value when value.TryGetValue<string>(out var text) => text,
        _ => throw json.Error(field, $"must be a string, got {node.ToJsonString()}"),
    };
}
