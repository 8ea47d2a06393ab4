namespace PeftSharp.Training;

/// <summary>
/// The tokenizer files of a decoder pretrained by PeftSharp: a byte-level BPE <c>tokenizer.json</c>
/// (<see cref="ByteLevelBpeTrainer"/>) with ChatML's special tokens, and a
/// <c>tokenizer_config.json</c> naming them and carrying a ChatML chat template, as Qwen2-style
/// models have: no BOS, <c>&lt;|im_end|&gt;</c> ends a turn and is the EOS token (so generation
/// stops after an answer), <c>&lt;|endoftext|&gt;</c> separates pretraining documents, and a
/// padding token of its own that is never an EOS.
/// </summary>
public static class ChatTokenizerFiles
{
    /// <summary>The document separator (also an end of generation for plain continuations).</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Opens a chat turn: <c>&lt;|im_start|&gt;role\n</c>.</summary>
    public const string TurnStart = "<|im_start|>";

    /// <summary>Ends a chat turn; the tokenizer's <c>eos_token</c>.</summary>
    public const string TurnEnd = "<|im_end|>";

    /// <summary>The padding token (never supervised, never an EOS).</summary>
    public const string Pad = "<|pad|>";

    /// <summary>
    /// The ChatML template: each message as <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>,
    /// then <c>&lt;|im_start|&gt;assistant\n</c> when a generation prompt is asked for.
    /// </summary>
    public const string ChatTemplate =
        "{%- for message in messages %}\n" +
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n" +
        "{{- '<|im_start|>assistant\\n' }}\n" +
        "{%- endif %}\n";

    /// <summary>The special tokens in id order (ids 0–3, before the 256 byte symbols).</summary>
    public static IReadOnlyList<string> SpecialTokens { get; } = [EndOfText, TurnStart, TurnEnd, Pad];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Trains the vocabulary on <paramref name="texts"/> and writes both files to <paramref name="directory"/> (atomically, one by one).</summary>
    /// <returns>The vocabulary size (special tokens included).</returns>
    public static int Write(string directory, IEnumerable<string> texts, int vocabularySize, int modelMaxLength)
    {
        var (vocabulary, merges) = ByteLevelBpeTrainer.Train(texts, vocabularySize, SpecialTokens);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "tokenizer.json"), ByteLevelBpeTrainer.ToTokenizerJson(vocabulary, merges, SpecialTokens));
        AtomicFile.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), TokenizerConfigJson(modelMaxLength));
        return vocabulary.Count;
    }

    /// <summary>The <c>tokenizer_config.json</c>: special tokens, <c>added_tokens_decoder</c>, the chat template.</summary>
    public static string TokenizerConfigJson(int modelMaxLength)
    {
        var decoder = new JsonObject();
        for (var id = 0; id < SpecialTokens.Count; id++)
        {
            decoder[id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = SpecialTokens[id], ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
            };
        }

        var json = new JsonObject
        {
            ["added_tokens_decoder"] = decoder,
            ["additional_special_tokens"] = new JsonArray(TurnStart, TurnEnd),
            ["bos_token"] = null,
            ["chat_template"] = ChatTemplate,
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = TurnEnd,
            ["errors"] = "replace",
            ["model_max_length"] = modelMaxLength,
            ["pad_token"] = Pad,
            ["split_special_tokens"] = false,
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["unk_token"] = null,
        };
        return json.ToJsonString(Indented) + "\n";
    }
}
