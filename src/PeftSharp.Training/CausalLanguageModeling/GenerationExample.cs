namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// A prompt and its reference completion: a JSONL record <c>{"prompt": ..., "completion": ...}</c> as TRL
/// writes them, or a <c>{"messages": [...]}</c> conversation whose last message is the assistant's reply
/// (the reference), the messages before it being the prompt.
/// </summary>
/// <param name="Prompt">The text the model continues (<c>"stormont -&gt;"</c>); for a conversation, the content of the message before the reply, as reports show it.</param>
/// <param name="Completion">The reference continuation (<c>" S T AO R M OW N T"</c>).</param>
public sealed record GenerationExample(string Prompt, string Completion)
{
    /// <summary>
    /// The conversation before the reference reply when the example is a conversation (null for a
    /// prompt/completion record): the model is prompted with it rendered by its chat template, the
    /// generation prompt added, instead of with <see cref="Prompt"/>.
    /// </summary>
    public IReadOnlyList<JsonObject>? Messages { get; init; }

    /// <summary>Reads every record of a JSON Lines file (blank lines skipped); other fields are ignored.</summary>
    /// <exception cref="ConfigFormatException">
    /// The file is missing or empty, or a record lacks a string <c>prompt</c> or a non-blank string
    /// <c>completion</c>, or its <c>messages</c> do not end with a non-blank assistant reply after at least one
    /// other message; the message names the file, line and field.
    /// </exception>
    public static List<GenerationExample> ReadJsonLines(string path)
    {
        var examples = ConfigJson.ReadLines(path).Select(Read).ToList();
        return examples.Count > 0 ? examples : throw new ConfigFormatException(path, null, "holds no records; expected one {\"prompt\": ..., \"completion\": ...} or {\"messages\": [...]} object per line");
    }

    private static GenerationExample Read(ConfigJson record)
    {
        if (record.Node("messages") is not { } node)
        {
            return new GenerationExample(Text(record, record.Node("prompt"), "prompt"), Text(record, record.Node("completion"), "completion", reference: true));
        }

        if (node is not JsonArray list || list.Count < 2 || list.Any(m => m is not JsonObject))
        {
            throw record.Error("messages", "expected a list of at least two message objects: the conversation and the assistant's reply to it");
        }

        var last = $"messages[{list.Count - 1}]";
        var reply = (JsonObject)list[^1]!;
        if (Text(record, reply["role"], last + ".role") != "assistant")
        {
            throw record.Error(last + ".role", "the last message must be the assistant's: its content is the reference the generation is scored against");
        }

        var prompt = (JsonObject)list[^2]!;
        return new GenerationExample(Text(record, prompt["content"], $"messages[{list.Count - 2}].content"), Text(record, reply["content"], last + ".content", reference: true))
        {
            Messages = [.. list.Take(list.Count - 1).Select(m => (JsonObject)m!.DeepClone())],
        };
    }

    /// <summary>The string at <paramref name="field"/>; a <paramref name="reference"/> must hold more than whitespace.</summary>
    private static string Text(ConfigJson record, JsonNode? node, string field, bool reference = false) => node switch
    {
        null => throw record.Error(field, "missing; expected a string"),
        JsonValue v when v.TryGetValue<string>(out var text) => reference && string.IsNullOrWhiteSpace(text) ? throw record.Error(field, "is empty; a reference completion needs text") : text,
        _ => throw record.Error(field, "expected a string"),
    };
}
