namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>What <see cref="GenerativeEvaluator.Evaluate"/> found.</summary>
/// <param name="Metrics">Each metric's value by name, in the order of <see cref="GenerativeEvaluatorOptions.Metrics"/>.</param>
/// <param name="Samples">The first examples with their generations, for a report.</param>
/// <param name="Count">Examples evaluated.</param>
public sealed record GenerativeEvaluation(IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<GenerationSample> Samples, int Count)
{
    /// <summary>The samples as a Markdown table (prompt, reference, generated) for report.md.</summary>
    public string SamplesMarkdown()
    {
        static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
        var lines = new List<string> { "| prompt | reference | generated |", "|---|---|---|" };
        lines.AddRange(Samples.Select(s => $"| {Cell(s.Prompt)} | {Cell(s.Reference)} | {Cell(s.Generated)} |"));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>The result as JSON: every metric by name, then <c>count</c> and <c>samples</c> (<c>prompt</c>, <c>reference</c>, <c>generated</c>), as <c>peft eval</c> prints it.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject();
        foreach (var (name, value) in Metrics)
        {
            json[name] = value;
        }

        json["count"] = Count;
        json["samples"] = new JsonArray([.. Samples.Select(s => new JsonObject { ["prompt"] = s.Prompt, ["reference"] = s.Reference, ["generated"] = s.Generated })]);
        return json;
    }
}
