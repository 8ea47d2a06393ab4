using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using PeftSharp.IO;

namespace PeftSharp.Adapters;

/// <summary>Reads and writes <c>adapter_config.json</c> the way PEFT does.</summary>
public static class AdapterConfigFile
{
    /// <summary>The file name.</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>The PEFT file-format version PeftSharp writes, followed by its own version.</summary>
    public const string PeftVersion = "0.18.0@peftsharp-0.1.0";

    /// <summary>
    /// Reads a configuration, choosing the method by <c>peft_type</c>. Unknown fields are kept in
    /// <see cref="AdapterConfig.ExtraFields"/> and reported in <paramref name="warnings"/>.
    /// </summary>
    /// <exception cref="ConfigFormatException">The file is malformed, names an unknown method, or sets an unsupported option.</exception>
    public static AdapterConfig Read(string path, ICollection<string>? warnings = null)
    {
        var json = ConfigJson.Load(path);
        return Read(json, warnings);
    }

    /// <summary>Reads a configuration from parsed JSON (see <see cref="Read(string, ICollection{string}?)"/>).</summary>
    public static AdapterConfig Read(ConfigJson json, ICollection<string>? warnings = null)
    {
        warnings ??= [];
        var peftType = json.String("peft_type") ?? throw json.Error("peft_type", "missing: every adapter config names its method");
        var method = AdapterMethodRegistry.All.FirstOrDefault(m => m.PeftType == peftType)
            ?? throw json.Error("peft_type", $"'{peftType}' is not a method PeftSharp implements ({string.Join(", ", AdapterMethodRegistry.All.Select(m => m.PeftType))})");
        var config = method.CreateConfig();
        config.ReadJson(json, warnings);
        var unknown = json.Unread().ToList();
        foreach (var (key, value) in unknown)
        {
            config.ExtraFields[key] = value?.DeepClone();
        }

        if (unknown.Count > 0)
        {
            warnings.Add($"{json.Path}: unknown fields kept as they are: {string.Join(", ", unknown.Select(u => u.Key))}");
        }

        return config;
    }

    /// <summary>
    /// The file's text: keys sorted, two-space indent, <c>inference_mode: true</c>, <c>peft_version</c>
    /// set, and <c>auto_mapping</c> filled when there is no task type (as PEFT saves it).
    /// </summary>
    public static string ToJson(AdapterConfig config, string? baseModelClass = null)
    {
        var json = new JsonObject();
        config.WriteJson(json);
        json["inference_mode"] = true;
        json["peft_version"] = PeftVersion;
        json["auto_mapping"] = config.TaskType is null && baseModelClass is not null
            ? new JsonObject { ["base_model_class"] = baseModelClass, ["parent_library"] = "peftsharp" }
            : null;
        var sorted = new JsonObject(json.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        var text = sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        return text + "\n";
    }

    /// <summary>Writes the configuration atomically (see <see cref="ToJson"/>).</summary>
    public static void Write(string path, AdapterConfig config, string? baseModelClass = null) =>
        AtomicFile.WriteAllText(path, ToJson(config, baseModelClass));
}
