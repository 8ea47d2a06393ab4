using PeftSharp.IO.Json;

namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// A supervised fine-tuning file (JSONL, one record a line, blank lines skipped) tokenized into
/// <see cref="CausalLmExample"/>s by an <see cref="SftEncoder"/>. The format is that of the first
/// record (<c>messages</c>, else <c>prompt</c>/<c>completion</c>, else <c>text</c>) and every record
/// must have it. Every record is checked and encoded when the file is loaded, so bad data stops the
/// run before training with one <see cref="SftDataException"/> naming the file, line and field.
/// Examples longer than the encoder's maximum are cut (<see cref="SftEncoder.Fit"/>) and counted;
/// those left with no supervised token are dropped and counted.
/// </summary>
public sealed class SftDataset
{
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<SftRecordFile> Contract =
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<SftRecordFile>)ConfigContract.CreateOptions(SftJsonContext.Default).GetTypeInfo(typeof(SftRecordFile));

    private SftDataset(string source, SftFormat format, IReadOnlyList<CausalLmExample> examples, IReadOnlyList<int> lines, int records, int truncated, int dropped)
    {
        Source = source;
        Format = format;
        Examples = examples;
        Lines = lines;
        Records = records;
        Truncated = truncated;
        Dropped = dropped;
    }

    /// <summary>The file it came from.</summary>
    public string Source { get; }

    /// <summary>The file's record format.</summary>
    public SftFormat Format { get; }

    /// <summary>The examples as training sees them, in file order (dropped records left out).</summary>
    public IReadOnlyList<CausalLmExample> Examples { get; }

    /// <summary>The 1-based line of each example.</summary>
    public IReadOnlyList<int> Lines { get; }

    /// <summary>Records in the file.</summary>
    public int Records { get; }

    /// <summary>Examples cut to the maximum length (and kept).</summary>
    public int Truncated { get; }

    /// <summary>Records dropped because no supervised token was left after cutting.</summary>
    public int Dropped { get; }

    /// <summary>One line for the log: how many examples, the format, and what cutting did.</summary>
    public string Describe(int maxLength) => string.Create(CultureInfo.InvariantCulture,
        $"{Path.GetFileName(Source)}: {Examples.Count} examples ({FormatName(Format)}), {Examples.Sum(e => e.SupervisedCount)} supervised tokens; {Truncated} cut to {maxLength} tokens, {Dropped} dropped (no supervised token left)");

    /// <summary>The name of <paramref name="format"/> as the records spell it.</summary>
    public static string FormatName(SftFormat format) => format switch
    {
        SftFormat.Text => "text",
        SftFormat.PromptCompletion => "prompt/completion",
        _ => "messages",
    };

    /// <summary>Reads and encodes <paramref name="path"/>.</summary>
    /// <exception cref="SftDataException">The file is missing, empty, not UTF-8 JSONL, or a record is bad (the message names line and field).</exception>
    public static SftDataset Load(string path, SftEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(encoder);
        if (!File.Exists(path))
        {
            throw new SftDataException(path, 0, null, "the file does not exist");
        }

        return Read(File.ReadAllBytes(path), path, encoder);
    }

    /// <summary>Reads and encodes the JSONL <paramref name="utf8"/>; messages name <paramref name="source"/> and the line (see <see cref="Load"/>).</summary>
    /// <exception cref="SftDataException">The data are empty, not UTF-8 JSONL, or a record is bad (the message names line and field).</exception>
    public static SftDataset Read(byte[] utf8, string source, SftEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(utf8);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(encoder);
        var path = source;
        SftFormat? format = null;
        var formatLine = 0;
        var examples = new List<CausalLmExample>();
        var lines = new List<int>();
        var (records, truncated, dropped) = (0, 0, 0);
        foreach (var (number, record) in ReadRecords(utf8, path))
        {
            records++;
            var own = FormatOf(record) ?? throw new SftDataException(path, number, null, "the record has none of the fields text, prompt and completion, or messages");
            if (format is null)
            {
                (format, formatLine) = (own, number);
            }
            else if (own != format)
            {
                throw new SftDataException(path, number, FieldOf(format.Value), $"missing: the file's format is {FormatName(format.Value)} (set by line {formatLine}), and this record is {FormatName(own)}");
            }

            CausalLmExample example;
            try
            {
                example = Encode(record, own, encoder);
            }
            catch (SftRecordException e)
            {
                throw new SftDataException(path, number, e.Field, e.Problem, e);
            }

            var fitted = encoder.Fit(example, out var cut);
            if (fitted is null)
            {
                dropped++;
                continue;
            }

            truncated += cut ? 1 : 0;
            examples.Add(fitted);
            lines.Add(number);
        }

        if (format is null)
        {
            throw new SftDataException(path, 0, null, "the file has no records");
        }

        return new SftDataset(path, format.Value, examples, lines, records, truncated, dropped);
    }

    /// <summary>The format of the first record of <paramref name="path"/>, or null when the file has no record or the first has none of the formats' fields.</summary>
    /// <exception cref="SftDataException">The first record is not a JSON object.</exception>
    public static SftFormat? DetectFormat(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new SftDataException(path, 0, null, "the file does not exist");
        }

        foreach (var (_, record) in ReadRecords(File.ReadAllBytes(path), path))
        {
            return FormatOf(record);
        }

        return null;
    }

    private static SftFormat? FormatOf(SftRecordFile record) =>
        record.Messages is not null ? SftFormat.Messages
        : record.Prompt is not null || record.Completion is not null ? SftFormat.PromptCompletion
        : record.Text is not null ? SftFormat.Text
        : null;

    private static string FieldOf(SftFormat format) => format switch
    {
        SftFormat.Text => "text",
        SftFormat.PromptCompletion => "prompt",
        _ => "messages",
    };

    private static CausalLmExample Encode(SftRecordFile record, SftFormat format, SftEncoder encoder)
    {
        switch (format)
        {
            case SftFormat.Text:
                return encoder.EncodeText(record.Text!);
            case SftFormat.PromptCompletion:
                return encoder.EncodePromptCompletion(
                    record.Prompt ?? throw new SftRecordException("prompt", "missing (the record has a completion)"),
                    record.Completion ?? throw new SftRecordException("completion", "missing (the record has a prompt)"));
            default:
                var messages = record.Messages!;
                if (messages.Count == 0)
                {
                    throw new SftRecordException("messages", "is empty: expected a list of {role, content} messages");
                }

                return encoder.EncodeMessages([.. messages.Select(ToNode)]);
        }
    }

    private static JsonObject ToNode(SftMessageFile? message, int index)
    {
        if (message is null)
        {
            throw new SftRecordException($"messages[{index}]", "expected a message object, found null");
        }

        var node = new JsonObject
        {
            ["role"] = message.Role ?? throw new SftRecordException($"messages[{index}].role", "missing"),
            ["content"] = message.Content ?? throw new SftRecordException($"messages[{index}].content", "missing"),
        };
        foreach (var (key, value) in message.Extra ?? [])
        {
            node[key] = value?.DeepClone();
        }

        return node;
    }

    /// <summary>The records of the file with their 1-based lines; each line must be a JSON object matching the record contract.</summary>
    private static IEnumerable<(int Line, SftRecordFile Record)> ReadRecords(byte[] bytes, string path)
    {
        var start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        var number = 0;
        while (start <= bytes.Length)
        {
            var end = Array.IndexOf(bytes, (byte)'\n', start);
            end = end < 0 ? bytes.Length : end;
            number++;
            var line = bytes.AsMemory(start, end - start);
            start = end + 1;
            if (line.Span.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            yield return (number, Parse(line, path, number));
        }
    }

    private static SftRecordFile Parse(ReadOnlyMemory<byte> line, string path, int number)
    {
        try
        {
            var json = ConfigJson.Parse(line.Span, path);
            return (SftRecordFile)ConfigContract.Deserialize(path, json.Root, Contract);
        }
        catch (ConfigFormatException e)
        {
            // The problem without ConfigFormatException's own location prefix.
            var prefix = e.Field is null ? $"{path}: " : $"{path}: field '{e.Field}': ";
            var problem = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
            if (e.Field is "prompt" or "completion" && problem.EndsWith("found a list", StringComparison.Ordinal))
            {
                problem += " (conversational prompt/completion records are not read: put the whole conversation in \"messages\"; the assistant turns are supervised)";
            }

            throw new SftDataException(path, number, e.Field, problem, e);
        }
    }
}
