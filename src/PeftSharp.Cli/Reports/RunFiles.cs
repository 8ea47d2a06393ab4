namespace PeftSharp.Cli.Reports;

/// <summary>Reads the files a training run writes (<c>metrics.jsonl</c>, <c>ranks.jsonl</c>).</summary>
internal static class RunFiles
{
    /// <summary>The rank records of <paramref name="path"/>: step and module → rank.</summary>
    public static List<(int Step, IReadOnlyDictionary<string, int> Ranks)> ReadRanks(string path) =>
        Records(path).Select(o => (o["step"]!.GetValue<int>(), (IReadOnlyDictionary<string, int>)o["ranks"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>(), StringComparer.Ordinal))).ToList();

    /// <summary>Training loss per step and the evaluation records of a metrics.jsonl.</summary>
    public static (List<double> Steps, List<double> Losses, List<JsonObject> Evaluations) ReadMetrics(string path)
    {
        var steps = new List<double>();
        var losses = new List<double>();
        var evaluations = new List<JsonObject>();
        foreach (var record in Records(path))
        {
            if (record["loss"] is { } loss)
            {
                steps.Add(record["step"]!.GetValue<int>());
                losses.Add(loss.GetValue<double>());
            }
            else if (record.ContainsKey("eval_loss"))
            {
                evaluations.Add(record);
            }
        }

        return (steps, losses, evaluations);
    }

    private static IEnumerable<JsonObject> Records(string path)
    {
        var line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            JsonObject? record;
            try
            {
                record = JsonNode.Parse(text) as JsonObject;
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new ConfigFormatException(path, null, $"line {line} is not JSON: {JsonErrorText.Describe(e, singleLine: true)}", e);
            }

            yield return record ?? throw new ConfigFormatException(path, null, $"line {line} is not a JSON object");
        }
    }
}
