using System.Text.Json.Nodes;
using PeftSharp.IO;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>A prompt and its reference completion, a JSONL record <c>{"prompt": ..., "completion": ...}</c> as TRL writes them.</summary>
/// <param name="Prompt">The text the model continues (<c>"stormont -&gt;"</c>).</param>
/// <param name="Completion">The reference continuation (<c>" S T AO R M OW N T"</c>).</param>
public sealed record GenerationExample(string Prompt, string Completion)
{
    /// <summary>Reads every record of a JSON Lines file (blank lines skipped); other fields are ignored.</summary>
    /// <exception cref="ConfigFormatException">
    /// The file is missing or empty, or a record lacks a string <c>prompt</c> or a non-blank string
    /// <c>completion</c>; the message names the file, line and field.
    /// </exception>
    public static List<GenerationExample> ReadJsonLines(string path)
    {
        var examples = ConfigJson.ReadLines(path).Select(record => new GenerationExample(Text(record, "prompt"), Text(record, "completion"))).ToList();
        return examples.Count > 0 ? examples : throw new ConfigFormatException(path, null, "holds no records; expected one {\"prompt\": ..., \"completion\": ...} object per line");
    }

    private static string Text(ConfigJson record, string field) => record.Node(field) switch
    {
        null => throw record.Error(field, "missing; expected a string"),
        JsonValue v when v.TryGetValue<string>(out var text) => field == "completion" && string.IsNullOrWhiteSpace(text) ? throw record.Error(field, "is empty; a reference completion needs text") : text,
        _ => throw record.Error(field, "expected a string"),
    };
}
