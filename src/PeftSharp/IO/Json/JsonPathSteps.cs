using System.Text.RegularExpressions;

namespace PeftSharp.IO.Json;

/// <summary>The steps of a serializer path (<c>$.rank_pattern['a.b'][2]</c>): property names and list indices.</summary>
internal static partial class JsonPathSteps
{
    /// <summary>The steps of <paramref name="path"/> (empty for null or <c>$</c>); an index is an <see cref="int"/>, a name a <see cref="string"/>.</summary>
    public static List<object> Parse(string? path) =>
        [.. Step().Matches(path ?? "").Select(m => m.Groups["index"].Success ? int.Parse(m.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture) : (object)(m.Groups["dotted"].Success ? m.Groups["dotted"].Value : m.Groups["quoted"].Value.Replace("\\'", "'", StringComparison.Ordinal)))];

    /// <summary>The field name of the steps as PeftSharp's messages spell it (<c>rank_pattern.a.b[2]</c>).</summary>
    public static string Field(IEnumerable<object> steps) =>
        string.Concat(steps.Select((s, i) => s is int index ? $"[{index}]" : i == 0 ? (string)s : $".{s}"));

    /// <summary>The node the steps lead to in <paramref name="root"/>, or null.</summary>
    public static JsonNode? Find(JsonNode? root, IEnumerable<object> steps)
    {
        var node = root;
        foreach (var step in steps)
        {
            node = (step, node) switch
            {
                (int index, JsonArray array) when index < array.Count => array[index],
                (string name, JsonObject map) => map[name],
                _ => null,
            };
        }

        return node;
    }

    [GeneratedRegex(@"\.(?<dotted>[^.\[]+)|\['(?<quoted>(?:[^'\\]|\\.)*)'\]|\[(?<index>\d+)\]")]
    private static partial Regex Step();
}
