namespace PeftSharp.Training;

/// <summary>One labelled text.</summary>
/// <param name="Text">The text.</param>
/// <param name="Label">Label id (index into <see cref="ClassificationDataset.Labels"/>).</param>
public sealed record ClassificationExample(string Text, int Label);

/// <summary>The file formats <see cref="ClassificationDataset"/> reads.</summary>
public enum DatasetFormat
{
    /// <summary>JSON Lines: one object per line (blank lines are skipped).</summary>
    JsonLines,

    /// <summary>CSV: a header row, RFC 4180 quoting.</summary>
    Csv,
}

/// <summary>A text-classification dataset read from JSONL or CSV, with string labels mapped to ids.</summary>
public sealed class ClassificationDataset
{
    private ClassificationDataset(string source, IReadOnlyList<string> labels, IReadOnlyList<ClassificationExample> examples)
    {
        Source = source;
        Labels = labels;
        Examples = examples;
    }

    /// <summary>The file it came from.</summary>
    public string Source { get; }

    /// <summary>Label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The examples in file order.</summary>
    public IReadOnlyList<ClassificationExample> Examples { get; }

    /// <summary>
    /// Reads <paramref name="path"/> (<c>.jsonl</c>: one object per line; <c>.csv</c>: a header row,
    /// RFC 4180 quoting). With <paramref name="labels"/> (an evaluation set), every label must be one of
    /// them; without, the labels are the sorted distinct values found.
    /// </summary>
    /// <exception cref="ConfigFormatException">The file is empty, a record lacks a field, or a label is unknown; the message names the line.</exception>
    public static ClassificationDataset Load(string path, string textField = "text", string labelField = "label", IReadOnlyList<string>? labels = null)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"dataset '{path}' does not exist", path);
        }

        using var stream = File.OpenRead(path);
        var format = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? DatasetFormat.Csv : DatasetFormat.JsonLines;
        return Read(stream, format, path, textField, labelField, labels);
    }

    /// <summary>
    /// Reads a dataset in <paramref name="format"/> from <paramref name="stream"/> (UTF-8); messages
    /// name <paramref name="source"/> and the line (see <see cref="Load"/>).
    /// </summary>
    /// <exception cref="ConfigFormatException">The data is not UTF-8, is empty, a record lacks a field, or a label is unknown; the message names the line.</exception>
    public static ClassificationDataset Read(Stream stream, DatasetFormat format, string source, string textField = "text", string labelField = "label", IReadOnlyList<string>? labels = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(source);
        var rows = format == DatasetFormat.Csv ? ReadCsv(stream, source, textField, labelField) : ReadJsonl(stream, source, textField, labelField);
        if (rows.Count == 0)
        {
            throw new ConfigFormatException(source, null, "the dataset has no records");
        }

        var names = labels ?? rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        var ids = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var examples = rows.Select(r => ids.TryGetValue(r.Label, out var id)
            ? new ClassificationExample(r.Text, id)
            : throw new ConfigFormatException($"{source}:{r.Line}", labelField, $"label '{r.Label}' is not one of the training labels ({string.Join(", ", names)})")).ToList();
        return new ClassificationDataset(source, names, examples);
    }

    /// <summary>The first <paramref name="count"/> examples (for quick runs).</summary>
    public ClassificationDataset Take(int count) => new(Source, Labels, Examples.Take(count).ToList());

    private static List<(int Line, string Text, string Label)> ReadJsonl(Stream stream, string path, string textField, string labelField)
    {
        var rows = new List<(int, string, string)>();
        var number = 0;
        using var reader = new StringReader(DecodeUtf8(stream, path));
        while (reader.ReadLine() is { } line)
        {
            number++;            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var json = ConfigJson.Parse(Encoding.UTF8.GetBytes(line), $"{path}:{number}");
            var text = json.String(textField) ?? throw json.Error(textField, "missing");
            var label = json.Node(labelField) switch
            {
                null => throw json.Error(labelField, "missing"),
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonValue v when v.TryGetValue<long>(out var n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => throw json.Error(labelField, "expected a string or an integer"),
            };
            rows.Add((number, text, label));
        }

        return rows;
    }

    /// <summary>
    /// The stream's text, strictly UTF-8 (a leading byte-order mark is dropped): a dataset in another
    /// encoding is refused with the line of the first invalid byte instead of being silently altered.
    /// </summary>
    private static string DecodeUtf8(Stream stream, string path)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        if (bytes.StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..];
        }

        var chars = new char[bytes.Length];
        if (System.Text.Unicode.Utf8.ToUtf16(bytes, chars, out var read, out var written, replaceInvalidSequences: false) != System.Buffers.OperationStatus.Done)
        {
            var before = bytes[..read];
            var line = 1 + before.Count((byte)'\n');
            throw new ConfigFormatException($"{path}:{line}", null, $"not valid UTF-8 (byte 0x{bytes[read]:X2} at column {read - before.LastIndexOf((byte)'\n')})");
        }

        return new string(chars, 0, written);
    }

    private static List<(int Line, string Text, string Label)> ReadCsv(Stream stream, string path, string textField, string labelField)
    {
        var text = DecodeUtf8(stream, path);
        var records = ParseCsv(text, path);
        if (records.Count == 0)
        {
            return [];
        }

        var header = records[0].Fields;
        var textIndex = header.IndexOf(textField);
        var labelIndex = header.IndexOf(labelField);
        if (textIndex < 0 || labelIndex < 0)
        {
            throw new ConfigFormatException($"{path}:1", textIndex < 0 ? textField : labelField, $"the header has no such column (columns: {string.Join(", ", header)})");
        }

        return records.Skip(1).Where(r => r.Fields.Count > 1 || r.Fields[0].Length > 0).Select(r =>
            r.Fields.Count == header.Count
                ? (r.Line, r.Fields[textIndex], r.Fields[labelIndex])
                : throw new ConfigFormatException($"{path}:{r.Line}", null, $"the record has {r.Fields.Count} fields, the header {header.Count}")).ToList();
    }

    private static List<(int Line, List<string> Fields)> ParseCsv(string text, string path)
    {
        var records = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, start = 1;
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    line += c == '\n' ? 1 : 0;
                    field.Append(c);
                }
            }
            else if (c == '"' && field.Length == 0)
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\n' || c == '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }

                if (records.Count == 0 || fields.Count > 0 || field.Length > 0)
                {
                    // Blank lines after the header are skipped here rather than kept as empty records.
                    fields.Add(field.ToString());
                    field.Clear();
                    records.Add((start, fields));
                    fields = [];
                }

                line++;
                start = line;
            }
            else
            {
                field.Append(c);
            }
        }

        if (quoted)
        {
            throw new ConfigFormatException($"{path}:{start}", null, "a quoted field is never closed");
        }

        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            records.Add((start, fields));
        }

        return records;
    }
}
