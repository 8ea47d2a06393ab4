using System.Reflection;

namespace PeftSharp.IO.Json;

/// <summary>
/// An enum written as a string: the member's <see cref="JsonStringEnumMemberNameAttribute"/>, else its
/// name in snake_case (<c>LogLinear</c> → <c>log_linear</c>). JSON null reads as the zero member.
/// </summary>
/// <typeparam name="TEnum">The enum.</typeparam>
public class SnakeCaseEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly (TEnum Value, string Name)[] Members = [.. typeof(TEnum).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => ((TEnum)f.GetValue(null)!, f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(f.Name)))];

    /// <inheritdoc />
    public override bool HandleNull => true;

    /// <summary>The string a member is written as.</summary>
    public static string NameOf(TEnum value) => Members.First(m => EqualityComparer<TEnum>.Default.Equals(m.Value, value)).Name;

    /// <inheritdoc />
    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return default;
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            throw JsonFieldException.Expected($"one of {string.Join(", ", Members.Select(m => m.Name))}", ref reader);
        }

        var name = reader.GetString();
        foreach (var (value, memberName) in Members)
        {
            if (memberName == name)
            {
                return value;
            }
        }

        throw new JsonFieldException($"\"{name}\" is not one of {string.Join(", ", Members.Select(m => m.Name))}");
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) => writer.WriteStringValue(NameOf(value));
}
