using System.Text.Json.Serialization.Metadata;
using PeftSharp.IO.Json;

namespace PeftSharp.Adapters;

/// <summary>Reads and writes <c>adapter_config.json</c> the way PEFT does.</summary>
public static class AdapterConfigFile
{
    /// <summary>The file name.</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>The PEFT file-format version PeftSharp writes, followed by its own version.</summary>
    public const string PeftVersion = "0.18.0@peftsharp-0.1.0";

    /// <summary>The serializer settings: every method's source-generated contract (reflection for methods without one) and the strict readers of <see cref="IO.Json"/>.</summary>
    private static readonly JsonSerializerOptions Options = CreateOptions();

    /// <summary>
    /// Reads a configuration, choosing the method by <c>peft_type</c>. Unknown fields are kept in
    /// <see cref="AdapterConfig.ExtraFields"/> and reported in <paramref name="warnings"/>.
    /// </summary>
    /// <exception cref="ConfigFormatException">The file is malformed, names an unknown method, sets an unsupported option or a value out of range.</exception>
    public static AdapterConfig Read(string path, ICollection<string>? warnings = null) => Read(ConfigJson.Load(path), warnings);

    /// <summary>Reads a configuration from parsed JSON (see <see cref="Read(string, ICollection{string}?)"/>).</summary>
    public static AdapterConfig Read(ConfigJson json, ICollection<string>? warnings = null)
    {
        warnings ??= [];
        var peftType = json.String("peft_type") ?? throw json.Error("peft_type", "missing: every adapter config names its method");
        var method = AdapterMethodRegistry.All.FirstOrDefault(m => m.PeftType == peftType)
            ?? throw json.Error("peft_type", $"'{peftType}' is not a method PeftSharp implements ({string.Join(", ", AdapterMethodRegistry.All.Select(m => m.PeftType))})");
        var root = (JsonObject)json.Root.DeepClone();
        root.Remove("peft_type");
        var schema = method.CreateConfig();
        foreach (var option in schema.UnsupportedOptions)
        {
            if (root[option] is { } node && !IsDefault(node))
            {
                throw json.Error(option, $"unsupported option {option} = {node.ToJsonString()}: PeftSharp does not implement it for {peftType}");
            }

            root.Remove(option);
        }

        foreach (var option in schema.IgnoredOptions)
        {
            root.Remove(option);
        }

        if (root.Remove("runtime_config", out var runtime) && runtime is not null)
        {
            warnings.Add("runtime_config is never stored; it was dropped");
        }

        var config = (AdapterConfig)ConfigContract.Deserialize(json.Path, root, Options.GetTypeInfo(method.ConfigType));
        foreach (var (key, value) in config.UnknownFields ?? [])
        {
            config.ExtraFields[key] = JsonSerializer.SerializeToNode(value, Options.GetTypeInfo(typeof(JsonElement)));
        }

        config.UnknownFields = null;
        config.SourceFile = json.Path;
        config.CheckFields(new ConfigValidator(config.GetType().Name, json.Path, reading: true));
        if (config.ExtraFields.Count > 0)
        {
            warnings.Add($"{json.Path}: unknown fields kept as they are: {string.Join(", ", config.ExtraFields.Select(u => u.Key))}");
        }

        return config;
    }

    /// <summary>
    /// The file's text: keys sorted, two-space indent, <c>inference_mode: true</c>, <c>peft_version</c>
    /// set, and <c>auto_mapping</c> filled when there is no task type (as PEFT saves it).
    /// </summary>
    public static string ToJson(AdapterConfig config, string? baseModelClass = null)
    {
        var json = JsonSerializer.SerializeToNode(config, Options.GetTypeInfo(config.GetType()))!.AsObject();
        foreach (var (key, value) in config.ExtraFields)
        {
            json[key] = value?.DeepClone();
        }

        json["peft_type"] = config.PeftType;
        json["inference_mode"] = true;
        json["peft_version"] = PeftVersion;
        json["auto_mapping"] = config.TaskType is null && baseModelClass is not null
            ? new JsonObject { ["base_model_class"] = baseModelClass, ["parent_library"] = "peftsharp" }
            : null;
        var sorted = new JsonObject(json.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        return sorted.ToJsonString(Options) + "\n";
    }

    /// <summary>Writes the configuration atomically (see <see cref="ToJson"/>).</summary>
    public static void Write(string path, AdapterConfig config, string? baseModelClass = null) =>
        AtomicFile.WriteAllText(path, ToJson(config, baseModelClass));

    /// <summary>A deep copy of <paramref name="config"/> made by writing it as adapter_config.json and reading it back (so it keeps exactly what a saved file keeps).</summary>
    public static AdapterConfig Copy(AdapterConfig config)
    {
        var copy = Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(ToJson(config)), FileName));
        copy.SourceFile = config.SourceFile;
        return copy;
    }

    private static bool IsDefault(JsonNode node) => node switch
    {
        JsonValue v => v.TryGetValue<bool>(out var flag) && !flag,
        JsonArray array => array.Count == 0,
        JsonObject map => map.Count == 0,
        _ => false,
    };

    /// <summary>A configuration names its method through <c>peft_type</c>; the <see cref="AdapterConfig.Method"/> object itself is never serialised.</summary>
    private static void OmitMethod(JsonTypeInfo contract)
    {
        foreach (var property in contract.Properties.Where(p => p.PropertyType.IsAssignableTo(typeof(AdapterMethod))).ToList())
        {
            contract.Properties.Remove(property);
        }
    }

    private static JsonSerializerOptions CreateOptions() => ConfigContract.CreateOptions(
        JsonTypeInfoResolver.Combine([.. AdapterMethodRegistry.All.Select(m => m.ConfigJsonResolver).OfType<IJsonTypeInfoResolver>(), new DefaultJsonTypeInfoResolver()])
            .WithAddedModifier(OmitMethod));
}
