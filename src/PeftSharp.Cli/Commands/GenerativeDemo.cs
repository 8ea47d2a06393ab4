using System.CommandLine;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// The generative part of <c>peft demo</c>: its options (<c>--task</c>, the decoder, the g2p data and
/// budget) and the run that fine-tunes the bundled decoder on g2p with every method, prints the table
/// and adds its section to the demo report.
/// </summary>
internal sealed class GenerativeDemo
{
    /// <summary>The <c>--task</c> value of the generative (g2p) demo only.</summary>
    public const string G2p = "g2p";

    /// <summary>The <c>--task</c> value of the classification demo only.</summary>
    public const string Classification = "classification";

    /// <summary>The <c>--task</c> value of both demos (the default).</summary>
    public const string All = "all";

    private const string DecoderAsset = "models/decoder";
    private const string DataAsset = "data/g2p";

    private readonly Option<string> _task = new("--task") { Description = "Which demo: g2p (the decoder learns pronunciations), classification, or all.", DefaultValueFactory = _ => All };
    // Defaults resolved as the bundled assets are, but checked only when the g2p demo runs (Asset), so --task classification needs neither.
    private readonly Option<DirectoryInfo> _decoder = new("--decoder") { Description = "Decoder the g2p demo fine-tunes.", DefaultValueFactory = _ => new DirectoryInfo(BundledAssets.Resolve(DecoderAsset)) };
    private readonly Option<DirectoryInfo> _data = new("--g2p-data") { Description = "g2p task directory with train.jsonl and test.jsonl (prompt/completion records).", DefaultValueFactory = _ => new DirectoryInfo(BundledAssets.Resolve(DataAsset)) };
    private readonly Option<int> _steps = new("--g2p-steps") { Description = "Optimizer steps per method in the g2p demo.", DefaultValueFactory = _ => new GenerativeDemoOptions().Steps };
    private readonly Option<double> _lrScale = new("--g2p-lr-scale") { Description = "Factor on every method's recommended learning rate in the g2p demo.", DefaultValueFactory = _ => new GenerativeDemoOptions().LearningRateScale };
    private readonly Option<int> _batchSize = new("--g2p-batch-size") { Description = "Examples per batch in the g2p demo.", DefaultValueFactory = _ => new GenerativeDemoOptions().BatchSize };
    private readonly Option<int?> _evalLimit = new("--g2p-eval-limit") { Description = "Test words generated and scored per method in the g2p demo (default 100; 0: all)." };

    public GenerativeDemo() => _task.AcceptOnlyFromAmong(G2p, Classification, All);

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _task, _decoder, _data, _steps, _batchSize, _lrScale, _evalLimit })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>True when <c>--task</c> asks for the classification demo.</summary>
    public bool RunsClassification(ParseResult result) => result.GetValue(_task) is Classification or All;

    /// <summary>True when <c>--task</c> asks for the g2p demo.</summary>
    public bool RunsGenerative(ParseResult result) => result.GetValue(_task) is G2p or All;

    /// <summary>
    /// Runs the g2p demo into <paramref name="output"/>/g2p, prints its table, writes the table as JSON
    /// (<c>g2p/table.json</c>, and <paramref name="json"/> when given) and adds the g2p section to the
    /// report in <paramref name="output"/> (after the classification section when <paramref name="append"/>,
    /// else as a report of its own); returns the report's path.
    /// </summary>
    public string Run(ParseResult result, string output, int seed, IReadOnlyList<string>? methods, FileInfo? json, bool append)
    {
        if (result.GetValue(_steps) < 1)
        {
            throw OptionMessages.Error(_steps, $"must be ≥ 1, got {result.GetValue(_steps)}");
        }

        if (result.GetValue(_batchSize) < 1)
        {
            throw OptionMessages.Error(_batchSize, $"must be ≥ 1, got {result.GetValue(_batchSize)}");
        }

        if (!(result.GetValue(_lrScale) > 0) || double.IsInfinity(result.GetValue(_lrScale)))
        {
            throw OptionMessages.Error(_lrScale, $"must be a positive number, got {result.GetValue(_lrScale)}");
        }

        if (result.GetValue(_evalLimit) is < 0)
        {
            throw OptionMessages.Error(_evalLimit, $"must be ≥ 0 (0: the whole test split), got {result.GetValue(_evalLimit)}");
        }

        var options = new GenerativeDemoOptions
        {
            Steps = result.GetValue(_steps),
            BatchSize = result.GetValue(_batchSize),
            LearningRateScale = result.GetValue(_lrScale),
            EvalLimit = result.GetValue(_evalLimit) switch { null => new GenerativeDemoOptions().EvalLimit, 0 => null, var n => n },
            Seed = seed,
            Methods = methods,
        };
        var decoder = Asset(result, _decoder, DecoderAsset);
        var data = Asset(result, _data, DataAsset);
        var folder = Path.Combine(output, G2p);
        var rows = ProgressDisplay.Run((progressFor, log) => GenerativeDemoRunner.Run(decoder, data, folder, options, log, progressFor));
        Console.WriteLine();
        Console.Write(GenerativeDemoRunner.Table(rows));
        var table = GenerativeDemoRunner.ToJson(rows).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
        AtomicFile.WriteAllText(Path.Combine(folder, "table.json"), table);
        if (json is not null)
        {
            AtomicFile.WriteAllText(json.FullName, table);
        }

        return Reports.RunReport.WriteGenerativeDemo(output, rows, Path.GetFileName(data.TrimEnd('/', '\\')), options, append);
    }

    /// <summary>The directory <paramref name="option"/> names; when it is not given, the bundled <paramref name="relative"/>, refused in one line when it is nowhere.</summary>
    private static string Asset(ParseResult result, Option<DirectoryInfo> option, string relative) =>
        result.GetResult(option) is not { Implicit: false } && BundledAssets.Find(relative) is null
            ? throw OptionMessages.Error(option, $"is not given and {BundledAssets.Missing(relative)}")
            : result.GetValue(option)!.FullName;
}
