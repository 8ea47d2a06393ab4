using static TorchSharp.torch;

namespace PeftSharp.Conformance;

/// <summary>One adapted linear layer of a conformance case.</summary>
/// <param name="Name">The module's name in the case (<c>m0</c>, ...).</param>
/// <param name="InFeatures">Input features (0 when the case adapts no linear layer, e.g. gate-only cases).</param>
/// <param name="OutFeatures">Output features (0 likewise).</param>
/// <param name="R">Rank.</param>
public sealed record ConformanceModule(string Name, int InFeatures, int OutFeatures, int R);

/// <summary>
/// A conformance case (<c>peftsharp-conformance/1</c>): a JSON description and a safetensors file of
/// inputs and expected outputs produced by a method's official implementation.
/// </summary>
public sealed class ConformanceCase
{
    /// <summary>The format string this reader understands.</summary>
    public const string FormatVersion = "peftsharp-conformance/1";

    private ConformanceCase(string name, string jsonPath, JsonObject root)
    {
        Name = name;
        JsonPath = jsonPath;
        Root = root;
        Method = RequireString(root, "method");
        Kind = RequireString(root, "kind");
        Source = root["source"]?.GetValue<string>() ?? string.Empty;
        Description = root["description"]?.GetValue<string>() ?? string.Empty;
        Config = root["config"] as JsonObject ?? [];
        Steps = root["steps"] as JsonArray;
        var tolerance = root["tolerance"] as JsonObject ?? throw Invalid("has no tolerance object");
        Rtol = tolerance["rtol"]?.GetValue<double>() ?? throw Invalid("has no tolerance.rtol");
        Atol = tolerance["atol"]?.GetValue<double>() ?? throw Invalid("has no tolerance.atol");
        var tensors = RequireString(root, "tensors");
        TensorsPath = Path.Combine(Path.GetDirectoryName(jsonPath)!, tensors);
        Modules = (root["modules"] as JsonArray ?? [])
            .Select(m => new ConformanceModule(
                m!["name"]!.GetValue<string>(),
                m["in_features"]?.GetValue<int>() ?? 0,
                m["out_features"]?.GetValue<int>() ?? 0,
                m["r"]?.GetValue<int>() ?? 0))
            .ToList();
    }

    /// <summary>The case name (file name without extension).</summary>
    public string Name { get; }

    /// <summary>The JSON file.</summary>
    public string JsonPath { get; }

    /// <summary>The whole JSON document.</summary>
    public JsonObject Root { get; }

    /// <summary><c>lora</c>, <c>dylora</c>, <c>adalora</c>, ...</summary>
    public string Method { get; }

    /// <summary>What is exercised: <c>forward</c>, <c>train_grad</c>, <c>allocator</c>, <c>trajectory</c>, ...</summary>
    public string Kind { get; }

    /// <summary>The implementation that produced the expectations.</summary>
    public string Source { get; }

    /// <summary>The computation in words.</summary>
    public string Description { get; }

    /// <summary>Hyper-parameters.</summary>
    public JsonObject Config { get; }

    /// <summary>Per-step expectations, when the case has steps.</summary>
    public JsonArray? Steps { get; }

    /// <summary>The adapted layers in model order.</summary>
    public IReadOnlyList<ConformanceModule> Modules { get; }

    /// <summary>Relative tolerance.</summary>
    public double Rtol { get; }

    /// <summary>Absolute tolerance.</summary>
    public double Atol { get; }

    /// <summary>The safetensors file with inputs and expectations.</summary>
    public string TensorsPath { get; }

    /// <summary>Reads a case from its JSON file.</summary>
    /// <exception cref="PeftException">The file is not a valid conformance case.</exception>
    public static ConformanceCase Load(string jsonPath)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(jsonPath)) as JsonObject
                ?? throw new PeftException($"{jsonPath}: a conformance case must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new PeftException($"{jsonPath}: not valid JSON: {IO.JsonErrorText.Describe(e)}", e);
        }

        var format = root["format"]?.GetValue<string>();
        if (format != FormatVersion)
        {
            throw new PeftException($"{jsonPath}: format is '{format}', expected '{FormatVersion}'");
        }

        try
        {
            return new ConformanceCase(Path.GetFileNameWithoutExtension(jsonPath), jsonPath, root);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new PeftException($"{jsonPath}: malformed conformance case: {e.Message}", e);
        }
    }

    /// <summary>Reads every tensor of the case. The caller owns (and disposes) them.</summary>
    public Dictionary<string, Tensor> LoadTensors() => SafetensorsFile.ReadAll(TensorsPath);

    /// <summary>A numeric config value.</summary>
    public double ConfigDouble(string key) =>
        Config[key]?.GetValue<double>() ?? throw Invalid($"has no config.{key}");

    /// <summary>An integer config value.</summary>
    public int ConfigInt(string key) =>
        Config[key]?.GetValue<int>() ?? throw Invalid($"has no config.{key}");

    /// <summary>A boolean config value, or <paramref name="fallback"/> when absent.</summary>
    public bool ConfigBool(string key, bool fallback) =>
        Config[key]?.GetValue<bool>() ?? fallback;

    private PeftException Invalid(string problem) => new($"{JsonPath}: conformance case {problem}");

    private static string RequireString(JsonObject root, string key) =>
        root[key]?.GetValue<string>() ?? throw new PeftException($"conformance case has no '{key}'");
}
