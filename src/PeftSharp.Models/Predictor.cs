using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>One input record of <c>peft predict</c>: token ids (with optional masks) or text.</summary>
/// <param name="Line">1-based line number in the input file (for messages).</param>
/// <param name="InputIds">Token ids.</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding; null means all real.</param>
/// <param name="TokenTypeIds">Segment ids, or null.</param>
public sealed record PredictionInput(int Line, long[] InputIds, long[]? AttentionMask, long[]? TokenTypeIds);

/// <summary>Runs a model over JSONL records and produces one JSON record per input, in order.</summary>
public static class Predictor
{
    /// <summary>
    /// Reads <paramref name="path"/>: one JSON object per line with <c>input_ids</c> (and optional
    /// <c>attention_mask</c>, <c>token_type_ids</c>) or <c>text</c>, which <paramref name="tokenize"/>
    /// turns into ids. Blank lines are skipped.
    /// </summary>
    /// <exception cref="ConfigFormatException">A line is not valid or lacks both fields; the message names the line.</exception>
    public static List<PredictionInput> ReadInputs(string path, Func<string, long[]>? tokenize)
    {
        var result = new List<PredictionInput>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var where = $"{path}:{number}";
            var json = ConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(line), where);
            long[]? ids = Longs(json, "input_ids");
            if (ids is null)
            {
                var text = json.String("text") ?? throw json.Error("input_ids", "the record has neither input_ids nor text");
                ids = tokenize?.Invoke(text) ?? throw json.Error("text", "the base model directory has no tokenizer, so records need input_ids");
            }

            if (ids.Length == 0)
            {
                throw json.Error("input_ids", "is empty");
            }

            var mask = Longs(json, "attention_mask");
            var types = Longs(json, "token_type_ids");
            if ((mask is not null && mask.Length != ids.Length) || (types is not null && types.Length != ids.Length))
            {
                throw json.Error(mask is not null && mask.Length != ids.Length ? "attention_mask" : "token_type_ids", $"has a different length than input_ids ({ids.Length})");
            }

            if (mask is not null && !mask.Contains(1))
            {
                throw json.Error("attention_mask", "masks every token");
            }

            result.Add(new PredictionInput(number, ids, mask, types));
        }

        return result;
    }

    /// <summary>
    /// Predicts every input (consecutive inputs of equal length share a batch of at most
    /// <paramref name="batchSize"/>). Sequence classification: <c>logits</c> and <c>label</c>; causal
    /// LM: <c>next_token_logits</c> (last real position) and <c>next_token</c>, plus <c>logits</c> for
    /// every position when <paramref name="allPositions"/>; masked LM: <c>logits</c> for every position.
    /// </summary>
    public static IEnumerable<JsonObject> Predict(PretrainedModel model, IReadOnlyList<PredictionInput> inputs, bool allPositions = false, int batchSize = 16)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        model.eval();
        var start = 0;
        while (start < inputs.Count)
        {
            var end = start + 1;
            while (end < inputs.Count && end - start < batchSize && inputs[end].InputIds.Length == inputs[start].InputIds.Length)
            {
                end++;
            }

            foreach (var record in PredictBatch(model, inputs.Skip(start).Take(end - start).ToList(), allPositions))
            {
                yield return record;
            }

            start = end;
        }
    }

    private static List<JsonObject> PredictBatch(PretrainedModel model, List<PredictionInput> batch, bool allPositions)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var length = batch[0].InputIds.Length;
        var ids = tensor(batch.SelectMany(b => b.InputIds).ToArray()).view(batch.Count, length);
        var mask = batch.Any(b => b.AttentionMask is not null)
            ? tensor(batch.SelectMany(b => b.AttentionMask ?? Enumerable.Repeat(1L, length).ToArray()).ToArray()).view(batch.Count, length)
            : null;
        var types = batch.Any(b => b.TokenTypeIds is not null)
            ? tensor(batch.SelectMany(b => b.TokenTypeIds ?? new long[length]).ToArray()).view(batch.Count, length)
            : null;
        var logits = model.Forward(ids, mask, types).to(ScalarType.Float64).cpu();
        var records = new List<JsonObject>();
        for (var i = 0; i < batch.Count; i++)
        {
            var record = new JsonObject();
            switch (model.Task)
            {
                case ModelTask.SequenceClassification:
                    var row = logits[i].data<double>().ToArray();
                    record["logits"] = Vector(row);
                    var best = System.Array.IndexOf(row, row.Max());
                    record["label"] = best < model.Config.Labels.Count ? model.Config.Labels[best] : best.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case ModelTask.CausalLanguageModeling:
                    var last = batch[i].AttentionMask is { } m ? System.Array.LastIndexOf(m, 1L) : length - 1;
                    var next = logits[i, last].data<double>().ToArray();
                    record["next_token_logits"] = Vector(next);
                    record["next_token"] = System.Array.IndexOf(next, next.Max());
                    if (allPositions)
                    {
                        record["logits"] = Matrix(logits[i]);
                    }

                    break;
                default:
                    record["logits"] = Matrix(logits[i]);
                    break;
            }

            records.Add(record);
        }

        return records;
    }

    /// <summary>Writes records as JSONL atomically.</summary>
    public static void WriteOutputs(string path, IEnumerable<JsonObject> records)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new Utf8JsonWriter(stream);
            foreach (var record in records)
            {
                record.WriteTo(writer);
                writer.Flush();
                stream.WriteByte((byte)'\n');
                writer.Reset();
            }
        });
    }

    private static long[]? Longs(ConfigJson json, string field) => json.Node(field) switch
    {
        null => null,
        JsonArray array => array.Select((item, i) => item is JsonValue v && v.TryGetValue<long>(out var x) ? x : throw json.Error($"{field}[{i}]", "expected an integer")).ToArray(),
        _ => throw json.Error(field, "expected a list of integers"),
    };

    private static JsonArray Vector(double[] values) => new([.. values.Select(v => (JsonNode?)JsonValue.Create(v))]);

    private static JsonArray Matrix(Tensor rows) =>
        new([.. Enumerable.Range(0, (int)rows.shape[0]).Select(r => (JsonNode?)Vector(rows[r].data<double>().ToArray()))]);
}
