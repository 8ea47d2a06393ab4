using PeftSharp.IO.Json;

namespace PeftSharp.Adapters;

/// <summary>
/// PEFT's <c>target_modules</c> and <c>exclude_modules</c>: a list of names, a regular expression
/// (a string), or <c>all-linear</c>. An empty list reads as null.
/// </summary>
public sealed class TargetModulesConverter : JsonConverter<TargetModules?>
{
    private static readonly StringListConverter Names = new();

    /// <inheritdoc />
    public override TargetModules? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var value = reader.GetString()!;
            if (value.Length == 0)
            {
                throw new JsonFieldException("expected a regular expression or all-linear, found an empty string");
            }

            try
            {
                return TargetModules.FromString(value);
            }
            catch (PeftConfigurationException e)
            {
                throw new JsonFieldException(e.Message);
            }
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw JsonFieldException.Expected("a string or a list of strings", ref reader);
        }

        var names = Names.Read(ref reader, typeof(IReadOnlyList<string>), options);
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i].Length == 0)
            {
                throw new JsonFieldException("expected a module name, found an empty string", $"[{i}]");
            }
        }

        return names.Count > 0 ? TargetModules.FromNames([.. names]) : null;
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, TargetModules? value, JsonSerializerOptions options)
    {
        switch (value?.Kind)
        {
            case null:
                writer.WriteNullValue();
                break;
            case TargetModulesKind.AllLinear:
                writer.WriteStringValue("all-linear");
                break;
            case TargetModulesKind.Regex:
                writer.WriteStringValue(value.Pattern);
                break;
            default:
                Names.Write(writer, value.Names, options);
                break;
        }
    }
}
