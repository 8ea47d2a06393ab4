namespace PeftSharp.Models.Chat;

/// <summary>
/// One record of a conversations JSONL file: <c>messages</c> (a list of message objects),
/// optional <c>add_generation_prompt</c>, and any other fields (<c>tools</c>, <c>documents</c>,
/// <c>enable_thinking</c>…), which become template variables as <c>apply_chat_template</c>'s keyword arguments do.
/// </summary>
public sealed class ChatConversation
{
    /// <summary>Creates a conversation.</summary>
    public ChatConversation(IReadOnlyList<JsonObject> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?> variables, int line)
    {
        Messages = messages;
        AddGenerationPrompt = addGenerationPrompt;
        Variables = variables;
        Line = line;
    }

    /// <summary>The messages.</summary>
    public IReadOnlyList<JsonObject> Messages { get; }

    /// <summary>The <c>add_generation_prompt</c> flag (false when absent).</summary>
    public bool AddGenerationPrompt { get; }

    /// <summary>The record's other fields, as template variables (JSON nodes).</summary>
    public IReadOnlyDictionary<string, object?> Variables { get; }

    /// <summary>The 1-based line of the record in its file (0 when not read from a file).</summary>
    public int Line { get; }

    /// <summary>Reads a JSONL file of conversations; blank lines are skipped.</summary>
    /// <exception cref="ConfigFormatException">A line is not a JSON object with a <c>messages</c> list of objects; the message names the file, line and field.</exception>
    public static List<ChatConversation> ReadJsonLines(string path)
    {
        var result = new List<ChatConversation>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var json = ConfigJson.Parse(Encoding.UTF8.GetBytes(line), $"{path}:{number}");
            if (json.Node("messages") is not JsonArray array)
            {
                throw json.Error("messages", "expected a list of message objects");
            }

            var messages = new List<JsonObject>(array.Count);
            for (var i = 0; i < array.Count; i++)
            {
                messages.Add(array[i] as JsonObject ?? throw json.Error($"messages[{i}]", "expected an object"));
            }

            var generation = json.Bool("add_generation_prompt", false);
            var variables = json.Root.Where(p => p.Key is not ("messages" or "add_generation_prompt")).ToDictionary(p => p.Key, p => (object?)p.Value, StringComparer.Ordinal);
            result.Add(new ChatConversation(messages, generation, variables, number));
        }

        return result;
    }
}
