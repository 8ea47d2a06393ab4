using PeftSharp.Models.Chat;
using PeftSharp.Models.Tokenizers;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Turns prompt records into token ids the way transformers does: <c>input_ids</c> as given, a
/// <c>prompt</c> encoded with the tokenizer's special tokens, <c>messages</c> rendered with the
/// model's chat template (generation prompt added) and encoded without added special tokens, as
/// <c>apply_chat_template(tokenize=True)</c>.
/// </summary>
public sealed class PromptEncoder
{
    private readonly string _directory;
    private ChatTemplate? _template;

    private PromptEncoder(string directory, HfTokenizer? tokenizer)
    {
        _directory = directory;
        Tokenizer = tokenizer;
    }

    /// <summary>The tokenizer, or null when the directory has no <c>tokenizer.json</c> (only <c>input_ids</c> records then work).</summary>
    public HfTokenizer? Tokenizer { get; }

    /// <summary>Reads the tokenizer of <paramref name="directory"/> when it has one; the chat template is read on first use.</summary>
    public static PromptEncoder Load(string directory) =>
        new(directory, HfTokenizer.Exists(directory) ? HfTokenizer.Load(directory) : null);

    /// <summary>The chat template of the directory (read once).</summary>
    /// <exception cref="ChatTemplateException">There is none, or it does not parse.</exception>
    public ChatTemplate Template => _template ??= ChatTemplate.Load(_directory);

    /// <summary>The ids of <paramref name="text"/> with the tokenizer's special tokens (BOS where it adds one).</summary>
    public long[] EncodePrompt(string text) => [.. RequireTokenizer("a text prompt").Encode(text, addSpecialTokens: true).Select(id => (long)id)];

    /// <summary>The ids of the rendered conversation, the generation prompt added when asked.</summary>
    public long[] EncodeConversation(IReadOnlyList<JsonObject> messages, bool addGenerationPrompt = true)
    {
        var tokenizer = RequireTokenizer("a conversation");
        var text = Template.Render(messages, addGenerationPrompt);
        return [.. tokenizer.Encode(text, addSpecialTokens: false).Select(id => (long)id)];
    }

    /// <summary>
    /// The prompt ids of one JSONL record: <c>input_ids</c>, <c>prompt</c> or <c>messages</c> (a
    /// <c>add_generation_prompt</c> field may turn the generation prompt off).
    /// </summary>
    /// <exception cref="ConfigFormatException">The record has none of the fields, or one is malformed (the message names the line and field).</exception>
    public long[] EncodeRecord(ConfigJson record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Node("input_ids") is { } node)
        {
            var ids = node is JsonArray array
                ? array.Select((item, i) => item is JsonValue v && v.TryGetValue<long>(out var id) ? id : throw record.Error($"input_ids[{i}]", "expected an integer")).ToArray()
                : throw record.Error("input_ids", "expected a list of integers");
            return ids.Length > 0 ? ids : throw record.Error("input_ids", "is empty");
        }

        if (record.Node("messages") is { } messages)
        {
            if (messages is not JsonArray list || list.Count == 0 || list.Any(m => m is not JsonObject))
            {
                throw record.Error("messages", "expected a non-empty list of message objects");
            }

            var addPrompt = record.Node("add_generation_prompt") is not JsonValue flag || !flag.TryGetValue<bool>(out var b) || b;
            return Guard(record, "messages", () => EncodeConversation([.. list.Select(m => (JsonObject)m!.DeepClone())], addPrompt));
        }

        if (record.Node("prompt") is { } prompt)
        {
            return prompt is JsonValue v && v.TryGetValue<string>(out var text)
                ? Guard(record, "prompt", () => EncodePrompt(text))
                : throw record.Error("prompt", "expected a string");
        }

        throw record.Error("input_ids", "the record has none of input_ids, prompt or messages");
    }

    private static long[] Guard(ConfigJson record, string field, Func<long[]> encode)
    {
        try
        {
            return encode();
        }
        catch (ChatTemplateException e)
        {
            throw record.Error(field, e.Message);
        }
        catch (InvalidOperationException e)
        {
            throw record.Error(field, e.Message);
        }
    }

    private HfTokenizer RequireTokenizer(string what) =>
        Tokenizer ?? throw new InvalidOperationException($"{what} needs a tokenizer, and {_directory} has no {HfTokenizer.TokenizerFileName}; give input_ids");
}
