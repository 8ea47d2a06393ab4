using PeftSharp.Training;

namespace PeftSharp.Fuzzing;

/// <summary>
/// <see cref="ClassificationDataset.Read"/>: every input is read both as JSON Lines and as CSV
/// (seeds of both formats; a JSONL seed is a hostile CSV file and the other way round). Structural
/// mutations edit records: quotes, separators, line breaks, fields, labels. An accepted dataset must
/// have labels and examples whose label ids lie among them.
/// </summary>
public sealed class DatasetFuzzTarget : FuzzTarget
{
    private static readonly string[] Separators = ["\"", ",", "\n"];


    private static readonly string[] Pieces =
    [
        "\"", "\"\"", ",", "\n", "\r\n", "\r", "{", "}", "\"text\":", "\"label\":", "\"label\":1", "\"label\":1.5", "\"label\":null", "\"label\":[1]", "text,label", "label,text", ",,", "\"a\nb\"", "\\u0000", "\\ud800", "null", "1e999", "9223372036854775808",
    ];

    private readonly JsonFuzzMutator _json = new(["text", "label", "Text", "LABEL", ""], ["pos", "neg", 0, 1, -1, 9223372036854775807L, 1.5, "", "\n"]);

    /// <summary>
    /// 128 bytes per input byte: each case runs two readers, and input made of separators (commas,
    /// line breaks) costs a reader about 60 bytes per byte in field strings and lists.
    /// </summary>
    public override long AllocationFactor => 128;

    /// <inheritdoc />
    public override string Name => "dataset";

    /// <inheritdoc />
    public override string Description => "Feed the dataset readers (JSON Lines and CSV) mutated datasets and random bytes.";

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed) =>
    [
        Encoding.UTF8.GetBytes("{\"text\": \"a fine film\", \"label\": \"pos\"}\n{\"text\": \"dull, \\\"long\\\"\\nand slow\", \"label\": \"neg\"}\n\n{\"label\": \"pos\", \"text\": \"naïve ✓\", \"id\": 3}\n"),
        Encoding.UTF8.GetBytes("{\"text\": \"one\", \"label\": 0}\r\n{\"text\": \"two\", \"label\": 1}\r\n{\"text\": \"\", \"label\": 1}"),
        Encoding.UTF8.GetBytes("text,label\n\"a fine, fine film\",pos\n\"he said \"\"no\"\"\nthen left\",neg\nplain,pos\n"),
        Encoding.UTF8.GetBytes("\uFEFFid,label,text\r\n1,0,first\r\n2,1,\"second, with comma\"\r\n3,1,\"\"\r\n"),
    ];

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        // Accepted when either reader reads the input, rejected when both refuse it with typed errors.
        PeftException? rejection = null;
        var accepted = false;
        foreach (var (format, name) in new[] { (DatasetFormat.JsonLines, "train.jsonl"), (DatasetFormat.Csv, "train.csv") })
        {
            try
            {
                Use(ClassificationDataset.Read(new MemoryStream(input, writable: false), format, name));
                accepted = true;
            }
            catch (PeftException e)
            {
                rejection ??= e;
            }
        }

        return accepted || rejection is null ? 0 : throw rejection;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        if (seed.Length > 0 && seed[0] == (byte)'{' && random.Next(2) == 0)
        {
            // Mutate one JSON line as JSON.
            var lines = Encoding.UTF8.GetString(seed).Split('\n');
            var at = random.Next(lines.Length);
            if (lines[at].TrimEnd('\r').Length > 0)
            {
                lines[at] = Encoding.UTF8.GetString(_json.Mutate(Encoding.UTF8.GetBytes(lines[at].TrimEnd('\r')), random, seeds));
            }

            return Encoding.UTF8.GetBytes(string.Join('\n', lines));
        }

        var text = Encoding.UTF8.GetString(seed);
        var count = random.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            var position = random.Next(text.Length + 1);
            text = random.Next(3) switch
            {
                0 => text.Insert(position, Pieces[random.Next(Pieces.Length)]),
                1 when text.Length > 0 => text.Remove(position == text.Length ? position - 1 : position, 1),
                _ => text.Insert(position, Separators[random.Next(3)]),
            };
        }

        return Encoding.UTF8.GetBytes(text);
    }

    private static void Use(ClassificationDataset dataset)
    {
        if (dataset.Labels.Count == 0 || dataset.Examples.Count == 0 || dataset.Examples.Any(e => e.Label < 0 || e.Label >= dataset.Labels.Count || e.Text is null))
        {
            throw new InvalidOperationException($"an accepted dataset is inconsistent: {dataset.Labels.Count} labels, {dataset.Examples.Count} examples");
        }

        _ = dataset.Take(1);
    }
}
