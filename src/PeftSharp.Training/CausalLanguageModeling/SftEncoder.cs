using PeftSharp.Models.Chat;
using PeftSharp.Models.Tokenizers;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// Turns supervised fine-tuning records into <see cref="CausalLmExample"/>s the way TRL's SFT trainer
/// does, with the masks exact:
/// <list type="bullet">
/// <item><see cref="SftFormat.Text"/>: the text with the tokenizer's special tokens (BOS where it adds
/// one), EOS appended; every token supervised.</item>
/// <item><see cref="SftFormat.PromptCompletion"/>: <c>prompt + completion</c> tokenized as one text, the
/// prompt's tokens (which must be a prefix) unsupervised, EOS appended and supervised. When the
/// prompt's tokens are not a prefix of the whole (a token merges across the boundary), the prompt's
/// own tokens are followed by the completion's, as generation would see them.</item>
/// <item><see cref="SftFormat.Messages"/>: the conversation rendered with the chat template (which adds
/// BOS itself) and tokenized without special tokens, as <c>apply_chat_template</c>. Each assistant turn
/// is found exactly by rendering prefixes: the conversation before it with the generation prompt, and
/// through it; both must tokenize to prefixes of the whole, and the tokens between them are supervised
/// up to and including the turn's last EOS token (the template's end of turn; what the template writes
/// after it, such as a newline, is not). A template that renders a turn differently once later turns
/// follow (Qwen3 drops the reasoning of earlier turns) still starts the turn where the prefix render
/// says; the turn then runs through its first EOS token in the whole render (a message containing the
/// EOS token's text is refused). A template whose render before a turn is not a prefix of the whole is
/// refused for that record. When the conversation ends with an assistant turn that holds no EOS token,
/// EOS is appended and supervised. Turns that start <see cref="MaxLength"/> tokens or more after the
/// first supervised token are not rendered (<see cref="Fit"/> would cut them), which bounds the cost of
/// a long conversation by the maximum length.</item>
/// </list>
/// <see cref="Fit"/> then cuts an example to the maximum length, keeping the supervised part when it can.
/// </summary>
public sealed class SftEncoder
{
    private readonly ChatTemplate? _template;
    private readonly HashSet<long> _eosIds;
    private readonly long[] _prefix;
    private readonly long[] _suffix;

    /// <summary>Creates the encoder over <paramref name="tokenizer"/> and, for conversations, <paramref name="template"/>; examples are cut to <paramref name="maxLength"/> tokens.</summary>
    /// <exception cref="ArgumentException">The tokenizer names no EOS token, or <paramref name="maxLength"/> is below 2.</exception>
    public SftEncoder(HfTokenizer tokenizer, ChatTemplate? template, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        if (tokenizer.EosTokenIds.Count == 0)
        {
            throw new ArgumentException("the tokenizer names no eos_token (tokenizer_config.json); supervised fine-tuning appends and supervises EOS so the model learns to stop", nameof(tokenizer));
        }

        Tokenizer = tokenizer;
        _template = template;
        MaxLength = maxLength;
        EosTokenId = tokenizer.EosTokenIds[0];
        _eosIds = [.. tokenizer.EosTokenIds.Select(id => (long)id)];
        PadTokenId = ChoosePadTokenId(tokenizer);
        _prefix = [.. tokenizer.PrefixTokenIds.Select(id => (long)id)];
        _suffix = [.. tokenizer.SuffixTokenIds.Select(id => (long)id)];
    }

    /// <summary>The tokenizer.</summary>
    public HfTokenizer Tokenizer { get; }

    /// <summary>The longest example, in tokens.</summary>
    public int MaxLength { get; }

    /// <summary>The EOS appended to texts and completions (the tokenizer's first <c>eos_token</c>).</summary>
    public long EosTokenId { get; }

    /// <summary>The id padding positions hold (see <see cref="ChoosePadTokenId"/>); padding is masked by position, never by this id.</summary>
    public long PadTokenId { get; }

    /// <summary>
    /// The padding id: the tokenizer's <c>pad_token</c> unless it is an EOS token, else its
    /// <c>unk_token</c> unless that is an EOS token, else the smallest id that is no EOS token. Never an
    /// EOS, so no code that masks by id can hide a supervised EOS (TRL #1623, the model that never stops).
    /// </summary>
    public static long ChoosePadTokenId(HfTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        bool Usable(int? id) => id is not null && !tokenizer.EosTokenIds.Contains(id.Value);
        return Usable(tokenizer.PadTokenId) ? tokenizer.PadTokenId!.Value
            : Usable(tokenizer.UnkTokenId) ? tokenizer.UnkTokenId!.Value
            : Enumerable.Range(0, tokenizer.VocabularySize).First(id => !tokenizer.EosTokenIds.Contains(id));
    }

    /// <summary>A plain-text example: every token supervised, EOS appended unless the tokenizer ended the text with one.</summary>
    /// <exception cref="SftRecordException">The text is empty.</exception>
    public CausalLmExample EncodeText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            throw new SftRecordException("text", "is empty: there is nothing to learn");
        }

        var ids = Encode(text, addSpecialTokens: true);
        if (ids.Count == 0 || !_eosIds.Contains(ids[^1]))
        {
            ids.Add(EosTokenId);
        }

        return new CausalLmExample([.. ids], [.. ids]);
    }

    /// <summary>A prompt/completion example: the prompt unsupervised, the completion and the EOS after it supervised.</summary>
    /// <exception cref="SftRecordException">The completion is empty.</exception>
    public CausalLmExample EncodePromptCompletion(string prompt, string completion)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(completion);
        if (completion.Length == 0)
        {
            throw new SftRecordException("completion", "is empty: there is nothing to learn");
        }

        var promptIds = WithoutSuffix(Encode(prompt, addSpecialTokens: true));
        var ids = WithoutSuffix(Encode(prompt + completion, addSpecialTokens: true));
        if (ids.Count <= promptIds.Count || !StartsWith(ids, promptIds))
        {
            ids = [.. promptIds, .. Encode(completion, addSpecialTokens: false)];
        }

        ids.Add(EosTokenId);
        var labels = ids.Select((id, i) => i < promptIds.Count ? CausalLmLoss.IgnoreIndex : id).ToArray();
        return new CausalLmExample([.. ids], labels);
    }

    /// <summary>A conversation example: the chat template's render with the assistant turns supervised.</summary>
    /// <param name="messages">The messages, each with <c>role</c> and <c>content</c>.</param>
    /// <exception cref="SftRecordException">There is no assistant turn, no chat template, the template fails, or it does not render prefix-consistently.</exception>
    public CausalLmExample EncodeMessages(IReadOnlyList<JsonObject> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (_template is null)
        {
            throw new SftRecordException("messages", "conversations need the model's chat template, and the tokenizer directory has none (chat_template.jinja or tokenizer_config.json's chat_template)");
        }

        var assistants = Enumerable.Range(0, messages.Count).Where(i => (string?)messages[i]["role"] == "assistant").ToList();
        if (assistants.Count == 0)
        {
            throw new SftRecordException("messages", "the conversation has no assistant turn: there is nothing to learn");
        }

        var ids = Render(messages, messages.Count, addGenerationPrompt: false, "messages");
        var labels = Enumerable.Repeat(CausalLmLoss.IgnoreIndex, ids.Count).ToArray();
        var endsWithEos = false;
        int? firstStart = null;
        var complete = true;
        foreach (var i in assistants)
        {
            var (start, end, eos) = AssistantSpan(messages, i, ids);
            firstStart ??= start;
            if (start >= firstStart + MaxLength)
            {
                // Fit keeps no token this far past the first supervised one; later turns start later still.
                complete = false;
                break;
            }

            for (var t = start; t < end; t++)
            {
                labels[t] = ids[t];
            }

            endsWithEos = eos;
        }

        if (complete && assistants[^1] == messages.Count - 1 && !endsWithEos)
        {
            ids.Add(EosTokenId);
            labels = [.. labels, EosTokenId];
        }

        return new CausalLmExample([.. ids], labels);
    }

    /// <summary>
    /// The supervised tokens <c>[Start, End)</c> of assistant message <paramref name="index"/> in the
    /// conversation's tokens <paramref name="ids"/>, and whether they end with an EOS token.
    /// </summary>
    private (int Start, int End, bool EndsWithEos) AssistantSpan(IReadOnlyList<JsonObject> messages, int index, List<long> ids)
    {
        var field = $"messages[{index}]";
        var before = Render(messages, index, addGenerationPrompt: true, field);
        if (!StartsWith(ids, before))
        {
            throw new SftRecordException(field, "the chat template does not render this conversation prefix-consistently: the conversation before this assistant turn, rendered with the generation prompt, does not tokenize to a prefix of the whole conversation's render, so the turn's supervised tokens cannot be found exactly. Split the conversation at this turn, or use a template that renders history unchanged");
        }

        var through = Render(messages, index + 1, addGenerationPrompt: false, field);
        int end;
        if (StartsWith(through, before) && StartsWith(ids, through))
        {
            if (through.Count == before.Count)
            {
                throw new SftRecordException(field, "the chat template renders nothing for this assistant turn");
            }

            end = through.Count;
        }
        else
        {
            // The template renders a turn differently once later turns follow it (Qwen3 drops the reasoning of
            // earlier turns): the turn is what the whole render holds from its start through its end-of-turn token.
            var eosText = _eosIds.Select(id => Tokenizer.IdToToken((int)id)).OfType<string>().FirstOrDefault(text => ((string?)messages[index]["content"])?.Contains(text, StringComparison.Ordinal) == true);
            var turnEnd = ids.FindIndex(before.Count, _eosIds.Contains);
            if (turnEnd < 0 || eosText is not null)
            {
                throw new SftRecordException(field, eosText is not null
                    ? $"the message contains the end-of-turn token {eosText}, and the chat template rewrites earlier turns as the conversation grows, so where this turn ends cannot be found exactly"
                    : "the chat template does not render this conversation prefix-consistently (it rewrites earlier turns as the conversation grows) and ends the turn with no EOS token, so the turn's supervised tokens cannot be found exactly. Split the conversation at this turn, or use a template that renders history unchanged");
            }

            return (before.Count, turnEnd + 1, true);
        }

        var lastEos = through.FindLastIndex(end - 1, end - before.Count, _eosIds.Contains);
        return lastEos >= 0 ? (before.Count, lastEos + 1, true) : (before.Count, end, false);
    }

    /// <summary>
    /// <paramref name="example"/> cut to <see cref="MaxLength"/>: when the unsupervised tokens before the
    /// first supervised one (the prompt) are enough, they are cut from the left, after the tokenizer's
    /// leading special tokens (BOS), so the completion is kept whole; otherwise the example is cut on the
    /// right, keeping the prompt and the start of the completion. Null when no supervised token is left that the loss sees (position 0 is never predicted).
    /// </summary>
    public CausalLmExample? Fit(CausalLmExample example, out bool truncated)
    {
        ArgumentNullException.ThrowIfNull(example);
        truncated = example.Length > MaxLength;
        var ids = example.InputIds.ToList();
        var labels = example.Labels.ToList();
        if (truncated)
        {
            var keep = StartsWith(ids, _prefix) ? _prefix.Length : 0;
            var firstSupervised = labels.FindIndex(label => label != CausalLmLoss.IgnoreIndex);
            var promptEnd = firstSupervised < 0 ? ids.Count : firstSupervised;
            // The prompt gives way when that saves the supervised part; otherwise it stays as the context of the part that fits.
            var excess = ids.Count - MaxLength;
            var cut = promptEnd - keep >= excess ? excess : 0;
            ids.RemoveRange(keep, cut);
            labels.RemoveRange(keep, cut);
            if (ids.Count > MaxLength)
            {
                ids.RemoveRange(MaxLength, ids.Count - MaxLength);
                labels.RemoveRange(MaxLength, labels.Count - MaxLength);
            }
        }

        return labels.Skip(1).Any(label => label != CausalLmLoss.IgnoreIndex) ? new CausalLmExample([.. ids], [.. labels]) : null;
    }

    private List<long> Render(IReadOnlyList<JsonObject> messages, int count, bool addGenerationPrompt, string field)
    {
        string text;
        try
        {
            // The template may keep references to the nodes it is given: each render gets its own copies.
            text = _template!.Render([.. messages.Take(count).Select(m => (JsonObject)m.DeepClone())], addGenerationPrompt);
        }
        catch (ChatTemplateException e)
        {
            throw new SftRecordException(field, $"the chat template failed{(count < messages.Count ? $" on the conversation's first {count} messages" : "")}: {e.Message}", e);
        }

        return Encode(text, addSpecialTokens: false);
    }

    private List<long> Encode(string text, bool addSpecialTokens) => [.. Tokenizer.Encode(text, addSpecialTokens).Select(id => (long)id)];

    private List<long> WithoutSuffix(List<long> ids)
    {
        if (_suffix.Length > 0 && ids.Count >= _suffix.Length && ids.Skip(ids.Count - _suffix.Length).SequenceEqual(_suffix))
        {
            ids.RemoveRange(ids.Count - _suffix.Length, _suffix.Length);
        }

        return ids;
    }

    private static bool StartsWith(IReadOnlyList<long> ids, IReadOnlyList<long> prefix) =>
        ids.Count >= prefix.Count && Enumerable.Range(0, prefix.Count).All(i => ids[i] == prefix[i]);
}
