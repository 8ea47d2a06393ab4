using System.Text.Json.Serialization.Metadata;
using PeftSharp.IO.Json;

namespace PeftSharp.Models;

/// <summary>
/// A Hugging Face <c>config.json</c>: the fields a family reads, declared under their JSON names, plus
/// the whole document so that saving writes back everything the file had.
/// </summary>
public abstract class ModelConfig
{
    /// <summary>The file name Hugging Face uses.</summary>
    public const string FileName = "config.json";

    /// <summary>The serializer settings of every model family's contract.</summary>
    private protected static readonly JsonSerializerOptions Options = ConfigContract.CreateOptions(ModelConfigJsonContext.Default);

    /// <summary>Creates a configuration with the defaults (filled by the family's contract).</summary>
    private protected ModelConfig()
    {
    }

    /// <summary>
    /// For a family that reads its own fields (the decoders): the fields every config has, read through
    /// the shared contract and checked, and the whole document.
    /// </summary>
    /// <exception cref="ConfigFormatException">A shared field is malformed; the message names the file and the field.</exception>
    private protected ModelConfig(ConfigJson json)
    {
        var common = Read(json, ModelConfigJsonContext.Default.CommonModelConfig);
        ModelType = common.ModelType;
        Architectures = common.Architectures;
        Id2Label = common.Id2Label;
        NumLabels = common.NumLabels;
        Json = common.Json;
    }

    /// <summary>The whole document as read (written back by <see cref="Save"/>).</summary>
    [JsonIgnore]
    public JsonObject Json { get; private set; } = [];

    /// <summary>Hugging Face <c>model_type</c>.</summary>
    public string ModelType { get; set; } = "";

    /// <summary>Hugging Face <c>architectures</c> (the head class names).</summary>
    [JsonConverter(typeof(StringListConverter))]
    public IReadOnlyList<string> Architectures { get; set; } = [];

    /// <summary>Hugging Face <c>id2label</c>: class label by id (as a string key).</summary>
    [JsonPropertyName("id2label")]
    public Dictionary<string, string> Id2Label { get; set; } = [];

    /// <summary>Hugging Face <c>num_labels</c>, used when <see cref="Id2Label"/> is empty (default 2).</summary>
    public int NumLabels { get; set; } = 2;

    /// <summary>Class labels by id (from <c>id2label</c>, else <c>LABEL_i</c> for <c>num_labels</c>).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Labels => Id2Label.Count > 0
        ? [.. Id2Label.OrderBy(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture)).Select(kv => kv.Value)]
        : [.. Enumerable.Range(0, NumLabels).Select(i => $"LABEL_{i}")];

    /// <summary>Writes the document to <c>directory/config.json</c> atomically.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), Json.ToJsonString(Options) + "\n");
    }

    /// <summary>Reads <c>path</c> (a directory or a config file) and returns the parsed JSON.</summary>
    public static ConfigJson LoadJson(string path) =>
        ConfigJson.Load(Directory.Exists(path) ? Path.Combine(path, FileName) : path);

    /// <summary>Reads <paramref name="json"/> as <typeparamref name="TConfig"/> and checks its fields.</summary>
    /// <exception cref="ConfigFormatException">A field is missing, of the wrong type or out of range; the message names the file and the field.</exception>
    private protected static TConfig Read<TConfig>(ConfigJson json, JsonTypeInfo<TConfig> contract)
        where TConfig : ModelConfig
    {
        var config = (TConfig)ConfigContract.Deserialize(json.Path, (JsonObject)json.Root.DeepClone(), contract);
        config.Json = (JsonObject)json.Root.DeepClone();
        config.CheckFields(new ConfigValidator(typeof(TConfig).Name, json.Path, reading: true));
        return config;
    }

    /// <summary>Checks each field (the <see cref="FieldCheckAttribute"/>s on the properties first); a family overrides it to check its own after calling the base.</summary>
    private protected virtual void CheckFields(ConfigValidator check)
    {
        check.CheckDeclared(this);
        check.Require(ModelType.Length > 0, nameof(ModelType), "model_type", "set (the config must name its model type)", null);
        var ids = Id2Label.Keys.Select(k => int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1).Order().ToList();
        check.Require(ids.SequenceEqual(Enumerable.Range(0, ids.Count)), nameof(Id2Label), "id2label", "integer keys 0, 1, …, n−1", string.Join(", ", Id2Label.Keys));
        check.Require(NumLabels >= 0, nameof(NumLabels), "num_labels", "an integer ≥ 0", NumLabels);
    }

    /// <summary>Fails unless <paramref name="name"/> is an activation PeftSharp implements.</summary>
    private protected static void CheckActivation(ConfigValidator check, string name, string property, string key) =>
        check.OneOf(name, Activations.Known, property, key);
}

/// <summary>Only the fields every <c>config.json</c> has (the contract behind <see cref="ModelConfig(ConfigJson)"/>).</summary>
internal sealed class CommonModelConfig : ModelConfig;
