namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>The contract of one supervised fine-tuning record: the fields of TRL's formats (other fields are ignored).</summary>
internal sealed class SftRecordFile
{
    /// <summary>Plain text (the <see cref="SftFormat.Text"/> format).</summary>
    public string? Text { get; set; }

    /// <summary>The prompt (<see cref="SftFormat.PromptCompletion"/>).</summary>
    public string? Prompt { get; set; }

    /// <summary>The completion (<see cref="SftFormat.PromptCompletion"/>).</summary>
    public string? Completion { get; set; }

    /// <summary>The conversation (<see cref="SftFormat.Messages"/>).</summary>
    public List<SftMessageFile?>? Messages { get; set; }
}

/// <summary>One message of a conversation: role, content and any other fields the chat template may read (passed through).</summary>
internal sealed class SftMessageFile
{
    /// <summary>user, assistant, system, tool…</summary>
    public string? Role { get; set; }

    /// <summary>The text of the message.</summary>
    public string? Content { get; set; }

    /// <summary>Other fields (<c>tool_calls</c>, <c>name</c>, <c>reasoning_content</c>…), given to the template as they are.</summary>
    [JsonExtensionData]
    public JsonObject? Extra { get; set; }
}

/// <summary>Source-generated JSON contracts of supervised fine-tuning data.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SftRecordFile))]
internal sealed partial class SftJsonContext : JsonSerializerContext;
