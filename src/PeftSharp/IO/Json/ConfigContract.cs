using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json.Serialization.Metadata;

namespace PeftSharp.IO.Json;

/// <summary>Reads configuration files through System.Text.Json contracts with PeftSharp's strict readers and error messages.</summary>
internal static class ConfigContract
{
    /// <summary>
    /// How every configuration contract names its fields: PEFT and Hugging Face write snake case, so a
    /// declared property's JSON name is its .NET name in snake case, and only a field whose name differs
    /// says so with [JsonPropertyName]. (The source-generated contexts state the same policy in their
    /// [JsonSourceGenerationOptions].)
    /// </summary>
    public static JsonNamingPolicy FieldNaming => JsonNamingPolicy.SnakeCaseLower;

    /// <summary>
    /// Settings for the model files read by reflection rather than a source-generated contract (decoder,
    /// DeBERTa and generation configs): field names in snake case, as everywhere in this folder.
    /// </summary>
    public static JsonSerializerOptions ReflectionOptions { get; } = CreateReflectionOptions();

    /// <summary>Serializer settings over <paramref name="resolver"/>: the strict readers of this folder, two-space indent, unescaped text.</summary>
    public static JsonSerializerOptions CreateOptions(IJsonTypeInfoResolver resolver)
    {
        var options = new JsonSerializerOptions
        {
            TypeInfoResolver = resolver,
            PropertyNamingPolicy = FieldNaming,
            WriteIndented = true,
            IndentSize = 2,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            Converters = { new IntegerConverter(), new NumberConverter(), new BooleanConverter(), new TextConverter() },
        };
        options.MakeReadOnly();
        return options;
    }

    /// <summary>Read-only reflection-based settings with snake-case names and <paramref name="converters"/>.</summary>
    public static JsonSerializerOptions CreateReflectionOptions(params JsonConverter[] converters)
    {
        var options = new JsonSerializerOptions { TypeInfoResolver = new DefaultJsonTypeInfoResolver(), PropertyNamingPolicy = FieldNaming };
        foreach (var converter in converters)
        {
            options.Converters.Add(converter);
        }

        options.MakeReadOnly();
        return options;
    }

    /// <summary>The JSON name of a declared <paramref name="property"/>: its [JsonPropertyName], else its name under <see cref="FieldNaming"/>.</summary>
    public static string FieldName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? FieldNaming.ConvertName(property.Name);

    /// <summary>
    /// Reads <paramref name="root"/> (from <paramref name="file"/>) as <paramref name="contract"/>'s type. A
    /// declared field set to null reads as absent (it keeps its default), as Python writes unset fields.
    /// </summary>
    /// <exception cref="ConfigFormatException">A value has the wrong type or form; the message names the field.</exception>
    public static object Deserialize(string file, JsonObject root, JsonTypeInfo contract)
    {
        foreach (var property in contract.Properties.Where(p => !p.IsExtensionData && root.TryGetPropertyValue(p.Name, out var value) && value is null))
        {
            root.Remove(property.Name);
        }

        try
        {
            return root.Deserialize(contract)!;
        }
        catch (JsonException e)
        {
            throw Refusal(file, root, e);
        }
    }

    /// <summary>The typed error for a value the serializer refused: the field from the reader's path, the problem from the converter.</summary>
    private static ConfigFormatException Refusal(string file, JsonObject root, JsonException e)
    {
        var steps = JsonPathSteps.Parse(e.Path);
        var field = JsonPathSteps.Field(steps) + (e as JsonFieldException)?.Suffix;
        if (e is JsonFieldException)
        {
            return new ConfigFormatException(file, field, e.Message, e);
        }

        var type = e.Message.Split("converted to ", 2) is [_, var rest] ? rest.Split(". Path", 2)[0] : "another type";
        var expected = type.Contains("Dictionary", StringComparison.Ordinal) ? "an object"
            : type.Contains("[]", StringComparison.Ordinal) || type.Contains("List", StringComparison.Ordinal) ? "a list"
            : $"a value of type {type}";
        return new ConfigFormatException(file, field, $"expected {expected}, found {JsonTokenText.Describe(JsonPathSteps.Find(root, steps))}", e);
    }
}
