using PeftSharp.Models.Chat;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training.CausalLanguageModeling;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// Supervised fine-tuning masks with the real Llama 2 and Qwen3 tokenizers and chat templates. The
/// expected masks are computed independently of the encoder's prefix renders: each token is placed in
/// the rendered text through its own bytes (byte-level alphabet, or SentencePiece pieces with byte
/// fallback), and a token is supervised exactly when it lies inside an assistant region of the text
/// found by string search (Llama 2: from the end of <c>[/INST]</c> through <c>&lt;/s&gt;</c>; Qwen3: from
/// the end of <c>&lt;|im_start|&gt;assistant\n</c> through <c>&lt;|im_end|&gt;</c>).
/// </summary>
public sealed class SftMaskTests : IDisposable
{
    internal static readonly string Tokenizers = Path.Combine(AppContext.BaseDirectory, "Interop", "tokenizers");
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-sft-mask-");

    public void Dispose() => _temp.Delete(recursive: true);

    internal static (HfTokenizer Tokenizer, ChatTemplate Template) Load(string name)
    {
        var dir = Path.Combine(Tokenizers, name);
        return (HfTokenizer.Load(dir), ChatTemplate.Load(dir));
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private static readonly Dictionary<char, byte> ByteLevel = BuildByteLevel();

    /// <summary>GPT-2's bytes_to_unicode, inverted: the byte each alphabet character stands for.</summary>
    private static Dictionary<char, byte> BuildByteLevel()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var map = printable.ToDictionary(b => (char)b, b => (byte)b);
        var extra = 0;
        for (var b = 0; b < 256; b++)
        {
            if (!printable.Contains(b))
            {
                map[(char)(256 + extra++)] = (byte)b;
            }
        }

        return map;
    }

    /// <summary>The bytes token <paramref name="id"/> stands for in the text.</summary>
    private static byte[] Piece(HfTokenizer tokenizer, long id)
    {
        var token = tokenizer.IdToToken((int)id)!;
        if (tokenizer.AddedTokens.Any(t => t.Id == id))
        {
            return Encoding.UTF8.GetBytes(token);
        }

        if (tokenizer.IsByteLevel)
        {
            return [.. token.Select(c => ByteLevel[c])];
        }

        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token.EndsWith('>')
            ? [Convert.ToByte(token[3..5], 16)]
            : Encoding.UTF8.GetBytes(token.Replace('▁', ' '));
    }

    /// <summary>The byte span of every token in <paramref name="text"/>; a space the SentencePiece normalizer inserted (after a special token) matches nothing.</summary>
    private static List<(int Start, int End)> Spans(HfTokenizer tokenizer, IReadOnlyList<long> ids, byte[] text)
    {
        var spans = new List<(int, int)>();
        var position = 0;
        foreach (var id in ids)
        {
            int? start = null;
            foreach (var b in Piece(tokenizer, id))
            {
                if (position < text.Length && text[position] == b)
                {
                    start ??= position;
                    position++;
                }
                else
                {
                    Assert.True(b == (byte)' ', $"token {id} does not align with the text at byte {position}");
                }
            }

            spans.Add((start ?? position, position));
        }

        Assert.Equal(text.Length, position);
        return spans;
    }

    /// <summary>Regions from the end of each <paramref name="open"/> to the end of the next <paramref name="close"/>, in bytes.</summary>
    private static List<(int Start, int End)> Regions(string text, string open, string close)
    {
        var regions = new List<(int, int)>();
        for (var at = text.IndexOf(open, StringComparison.Ordinal); at >= 0; at = text.IndexOf(open, at + 1, StringComparison.Ordinal))
        {
            var start = at + open.Length;
            var end = text.IndexOf(close, start, StringComparison.Ordinal) + close.Length;
            regions.Add((Encoding.UTF8.GetByteCount(text[..start]), Encoding.UTF8.GetByteCount(text[..end])));
        }

        return regions;
    }

    private static long[] ExpectedLabels(HfTokenizer tokenizer, IReadOnlyList<long> ids, string text, List<(int Start, int End)> regions)
    {
        var spans = Spans(tokenizer, ids, Encoding.UTF8.GetBytes(text));
        return [.. ids.Select((id, k) =>
        {
            var (start, end) = spans[k];
            var inside = regions.Any(r => start >= r.Start && end <= r.End);
            Assert.True(inside || !regions.Any(r => start < r.End && end > r.Start), $"token {k} straddles a region boundary");
            return inside ? id : CausalLmLoss.IgnoreIndex;
        })];
    }

    private static List<JsonObject> FixtureConversation(string name, int index) =>
        [.. JsonNode.Parse(File.ReadLines(Path.Combine(Tokenizers, name, "conversations.jsonl")).ElementAt(index))!["messages"]!.AsArray().Select(m => m!.AsObject().DeepClone().AsObject())];

    private static long[] FixtureIds(string name, int index) =>
        [.. JsonNode.Parse(File.ReadLines(Path.Combine(Tokenizers, name, "expected_chat.jsonl")).ElementAt(index))!["input_ids"]!.AsArray().Select(v => (long)v!)];

    [Fact]
    public void Llama2MultiTurnConversationsSuperviseExactlyTheAssistantTurnsAndTheirEos()
    {
        var (tokenizer, template) = Load("llama2");
        var encoder = new SftEncoder(tokenizer, template, 1024);
        List<JsonObject> multi = [Message("system", "Be brief."), Message("user", "What is 2+2?"), Message("assistant", "4."), Message("user", "And times 3?"), Message("assistant", "12.")];
        foreach (var messages in new[] { FixtureConversation("llama2", 2), multi })
        {
            var example = encoder.EncodeMessages(messages);
            var text = template.Render(messages, addGenerationPrompt: false);
            Assert.Equal(tokenizer.Encode(text, addSpecialTokens: false).Select(i => (long)i), example.InputIds);
            var expected = ExpectedLabels(tokenizer, example.InputIds, text, Regions(text, "[/INST]", "</s>"));
            Assert.Equal(expected, example.Labels);
            Assert.Equal(messages.Count(m => (string?)m["role"] == "assistant"), example.Labels.Count(l => l == 2));
            Assert.Equal(2, example.Labels[^1]);
        }

        // The fixture's conversation renders to the ids transformers gives.
        Assert.Equal(FixtureIds("llama2", 2), encoder.EncodeMessages(FixtureConversation("llama2", 2)).InputIds);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(7)]
    public void Qwen3ConversationsSuperviseTheAssistantTurnThroughImEndButNotTheNewlineAfter(int fixture)
    {
        var (tokenizer, template) = Load("qwen3");
        var encoder = new SftEncoder(tokenizer, template, 1024);
        var messages = FixtureConversation("qwen3", fixture);
        var example = encoder.EncodeMessages(messages);
        Assert.Equal(FixtureIds("qwen3", fixture), example.InputIds);
        var text = template.Render(messages, addGenerationPrompt: false);
        Assert.Equal(ExpectedLabels(tokenizer, example.InputIds, text, Regions(text, "<|im_start|>assistant\n", "<|im_end|>")), example.Labels);
        var imEnd = tokenizer.TokenToId("<|im_end|>")!.Value;
        Assert.Equal(imEnd, example.Labels[^2]);
        Assert.Equal(CausalLmLoss.IgnoreIndex, example.Labels[^1]);
    }

    [Fact]
    public void Qwen3MultiTurnConversationsWhoseTemplateRewritesEarlierTurnsSuperviseEachTurnThroughItsImEnd()
    {
        var (tokenizer, template) = Load("qwen3");
        var encoder = new SftEncoder(tokenizer, template, 1024);
        List<JsonObject> multi = [Message("system", "Be brief."), Message("user", "What is 2+2?"), Message("assistant", "4."), Message("user", "And times 3?"), Message("assistant", "<think>\n3 × 4.\n</think>\n\n12."), Message("user", "Thanks")];
        List<JsonObject> reasoning = [.. FixtureConversation("qwen3", 6), Message("assistant", "<think>\nprime.\n</think>\n\nYes.")];
        foreach (var messages in new[] { multi, reasoning })
        {
            var example = encoder.EncodeMessages(messages);
            var text = template.Render(messages, addGenerationPrompt: false);
            Assert.Equal(tokenizer.Encode(text, addSpecialTokens: false).Select(i => (long)i), example.InputIds);
            Assert.Equal(ExpectedLabels(tokenizer, example.InputIds, text, Regions(text, "<|im_start|>assistant\n", "<|im_end|>")), example.Labels);
            Assert.Equal(2, example.Labels.Count(l => l == tokenizer.TokenToId("<|im_end|>")));
        }

        // The reasoning of the earlier turn is not in the render, so it is not learnt; the last turn's is.
        var rendered = template.Render(multi, addGenerationPrompt: false);
        Assert.DoesNotContain("3 × 4", rendered, StringComparison.Ordinal);
        var last = encoder.EncodeMessages(reasoning);
        Assert.Contains("prime.", tokenizer.Decode([.. last.Labels.Where(l => l >= 0).Select(l => (int)l)]), StringComparison.Ordinal);
    }

    [Fact]
    public void ALongConversationTrainsOnWhatFitsExactlyAsIfEveryTurnWereRendered()
    {
        var (tokenizer, template) = Load("llama2");
        var messages = Enumerable.Range(0, 12).SelectMany(i => new[] { Message("user", $"Question number {i}?"), Message("assistant", $"Answer {i}.") }).ToList();
        var whole = new SftEncoder(tokenizer, template, 4096).EncodeMessages(messages);
        Assert.Equal(12, whole.Labels.Count(l => l == 2));
        foreach (var maxLength in new[] { 24, 40, 200 })
        {
            var encoder = new SftEncoder(tokenizer, template, maxLength);
            var expected = encoder.Fit(whole, out var wholeCut)!;
            var got = encoder.Fit(encoder.EncodeMessages(messages), out var cut)!;
            Assert.Equal(expected.InputIds, got.InputIds);
            Assert.Equal(expected.Labels, got.Labels);
            Assert.Equal(wholeCut, cut);
        }
    }

    [Fact]
    public void ATemplateWhoseEarlierRenderIsNoPrefixIsRefusedWithLineAndTurn()
    {
        var path = Path.Combine(_temp.FullName, "chat.jsonl");
        var conversation = new JsonArray(Message("user", "What is 2+2?"), Message("assistant", "4."), Message("user", "And times 3?"), Message("assistant", "12."));
        File.WriteAllText(path, new JsonObject { ["messages"] = new JsonArray(Message("user", "Hi"), Message("assistant", "Hello.")) }.ToJsonString() + "\n" + new JsonObject { ["messages"] = conversation }.ToJsonString() + "\n");
        var (tokenizer, _) = Load("qwen3");
        // A header that counts the messages changes the start of every render as the conversation grows.
        var counting = ChatTemplate.Parse("{{ messages|length }} messages\n{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
        var error = Assert.Throws<SftDataException>(() => SftDataset.Load(path, new SftEncoder(tokenizer, counting, 1024)));
        Assert.Equal(1, error.Line);
        Assert.Equal("messages[1]", error.Field);
        Assert.Contains("prefix-consistently", error.Message);
    }

    [Fact]
    public void PromptCompletionSupervisesTheCompletionAndTheAppendedEos()
    {
        foreach (var name in new[] { "llama2", "qwen3" })
        {
            var (tokenizer, _) = Load(name);
            var encoder = new SftEncoder(tokenizer, null, 1024);
            const string prompt = "Translate to French: cat\nAnswer:";
            const string completion = " le chat";
            var example = encoder.EncodePromptCompletion(prompt, completion);
            var prefix = tokenizer.PrefixTokenIds.Count;
            var eos = tokenizer.EosTokenIds[0];
            Assert.Equal(eos, example.InputIds[^1]);
            Assert.Equal(eos, example.Labels[^1]);
            Assert.Equal(tokenizer.PrefixTokenIds.Select(i => (long)i), example.InputIds.Take(prefix));
            var body = example.InputIds[prefix..^1];
            var text = prompt + completion;
            var start = Encoding.UTF8.GetByteCount(prompt);
            var expected = ExpectedLabels(tokenizer, body, text, [(start, Encoding.UTF8.GetByteCount(text))]);
            Assert.Equal(expected, example.Labels[prefix..^1]);
            Assert.All(example.Labels.Take(prefix), l => Assert.Equal(CausalLmLoss.IgnoreIndex, l));
            Assert.Equal(tokenizer.Decode([.. example.Labels.Where(l => l >= 0).Select(l => (int)l)], skipSpecialTokens: true).Trim(), completion.Trim());
        }
    }

    [Fact]
    public void TextSupervisesEveryTokenWithBosFirstAndEosLast()
    {
        var (tokenizer, _) = Load("llama2");
        var example = new SftEncoder(tokenizer, null, 1024).EncodeText("The quick brown fox.");
        Assert.Equal(example.InputIds, example.Labels);
        Assert.Equal(1, example.InputIds[0]);
        Assert.Equal(2, example.InputIds[^1]);
        Assert.Equal([.. tokenizer.Encode("The quick brown fox.").Select(i => (long)i), 2L], example.InputIds);
    }

    [Fact]
    public void ThePadTokenIsNeverAnEosAndPaddingIsMaskedByPosition()
    {
        var (qwen, _) = Load("qwen3");
        Assert.Equal(qwen.PadTokenId, (int)SftEncoder.ChoosePadTokenId(qwen));
        var (llama, _) = Load("llama2");
        Assert.Null(llama.PadTokenId);
        Assert.Equal(llama.UnkTokenId, (int)SftEncoder.ChoosePadTokenId(llama));

        // A tokenizer whose pad_token is its eos_token (the classic set-up of TRL #1623) pads with unk.
        var dir = Path.Combine(_temp.FullName, "pad-is-eos");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Tokenizers, "llama2", "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Tokenizers, "llama2", "tokenizer_config.json")))!.AsObject();
        config["pad_token"] = "</s>";
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        var padIsEos = HfTokenizer.Load(dir);
        Assert.Equal(2, padIsEos.PadTokenId);
        var pad = SftEncoder.ChoosePadTokenId(padIsEos);
        Assert.NotEqual(2, pad);
        Assert.Equal(0, pad);

        // In a padded batch every EOS stays supervised; the padding is masked by position.
        var encoder = new SftEncoder(padIsEos, null, 1024);
        var examples = new[] { encoder.EncodeText("Hi."), encoder.EncodePromptCompletion("Q: a long question here?", " A.") };
        var batch = LengthGroupedBatcher.Collate(examples, encoder.PadTokenId);
        var labels = batch.Labels.data<long>().ToArray();
        var mask = batch.AttentionMask!.data<long>().ToArray();
        var width = (int)batch.InputIds.shape[1];
        for (var row = 0; row < examples.Length; row++)
        {
            var length = examples[row].Length;
            Assert.Equal(2, labels[(row * width) + length - 1]);
            Assert.All(Enumerable.Range(length, width - length), t =>
            {
                Assert.Equal(CausalLmLoss.IgnoreIndex, labels[(row * width) + t]);
                Assert.Equal(0, mask[(row * width) + t]);
            });
            Assert.All(Enumerable.Range(0, length), t => Assert.Equal(1, mask[(row * width) + t]));
        }
    }

    [Fact]
    public void TruncationKeepsBosAndTheCompletionCutsThePromptFromTheLeftAndCounts()
    {
        var (tokenizer, _) = Load("llama2");
        var path = Path.Combine(_temp.FullName, "long.jsonl");
        var longPrompt = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"word{i}")) + "\nAnswer:";
        File.WriteAllLines(path,
        [
            new JsonObject { ["prompt"] = longPrompt, ["completion"] = " yes" }.ToJsonString(),
            new JsonObject { ["prompt"] = "Short:", ["completion"] = " ok" }.ToJsonString(),
            new JsonObject { ["prompt"] = "Q:", ["completion"] = " " + string.Join(' ', Enumerable.Range(0, 40).Select(i => $"w{i}")) }.ToJsonString(),
        ]);
        var encoder = new SftEncoder(tokenizer, null, 16);
        var full = new SftEncoder(tokenizer, null, 4096);
        var data = SftDataset.Load(path, encoder);
        Assert.Equal(3, data.Examples.Count);
        Assert.Equal(2, data.Truncated);
        Assert.Equal(0, data.Dropped);
        Assert.All(data.Examples, e => Assert.InRange(e.Length, 1, 16));

        var whole = full.EncodePromptCompletion(longPrompt, " yes");
        var cut = data.Examples[0];
        Assert.Equal(16, cut.Length);
        Assert.Equal(1, cut.InputIds[0]);
        Assert.Equal(whole.InputIds[^15..], cut.InputIds[1..]);
        Assert.Equal(whole.Labels[^15..], cut.Labels[1..]);
        Assert.Equal(whole.SupervisedCount, cut.SupervisedCount);

        // A completion longer than the limit keeps its start (cut on the right).
        var longCompletion = data.Examples[2];
        var wholeLong = full.EncodePromptCompletion("Q:", " " + string.Join(' ', Enumerable.Range(0, 40).Select(i => $"w{i}")));
        Assert.Equal(wholeLong.InputIds[..16], longCompletion.InputIds);
        Assert.Contains("2 cut to 16 tokens, 0 dropped", data.Describe(16), StringComparison.Ordinal);

        // An example left with no supervised token the loss sees is dropped.
        Assert.Null(encoder.Fit(new CausalLmExample([5, 6, 7], [5, CausalLmLoss.IgnoreIndex, CausalLmLoss.IgnoreIndex]), out _));
    }

    public static TheoryData<string, int, string, string> BadRecords() => new()
    {
        { "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c\"}", 2, "completion", "missing" },
        { "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": 3, \"completion\": \"b\"}", 3, "prompt", "expected a string" },
        { "{\"prompt\": \"a\", \"completion\": \"\"}", 1, "completion", "empty" },
        { "{\"text\": \"a\"}\n{\"text\": [\"a\"]}", 2, "text", "expected a string" },
        { "{\"text\": \"a\"}\n{\"prompt\": \"a\", \"completion\": \"b\"}", 2, "text", "format is text" },
        { "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 1, "messages", "no assistant turn" },
        { "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\"}]}", 1, "messages[1].content", "missing" },
        { "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"user\", \"content\": \"again\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}", 1, "messages", "Conversation roles must alternate" },
        { "{\"messages\": \"hello\"}", 1, "messages", "expected a list" },
        { "{\"text\": \"a\"}\n{\"text\": \"b\"", 2, "", "not valid JSON" },
        { "{\"label\": \"spam\"}", 1, "", "none of the fields" },
        { "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"yo\"}]}", 1, "prompt", "put the whole conversation in \"messages\"" },
    };

    [Theory]
    [MemberData(nameof(BadRecords))]
    public void BadDataIsOneErrorNamingFileLineAndField(string content, int line, string field, string problem)
    {
        var path = Path.Combine(_temp.FullName, "bad.jsonl");
        File.WriteAllText(path, content);
        var (tokenizer, template) = Load("llama2");
        var error = Assert.Throws<SftDataException>(() => SftDataset.Load(path, new SftEncoder(tokenizer, template, 64)));
        Assert.Equal(path, error.FilePath);
        Assert.Equal(line, error.Line);
        Assert.Equal(field.Length == 0 ? null : field, error.Field);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{path}:{line}: ", error.Message, StringComparison.Ordinal);
    }
}
