using System.CommandLine;
using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft make-task rank-recovery</c>: generate the synthetic rank-recovery task.</summary>
internal static class MakeTaskCommand
{
    public static Command Create()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "Base model directory." }.DefaultAsset("models/base");
        var texts = new Option<FileInfo>("--texts") { Description = "JSONL whose 'text' fields the teacher labels." }.DefaultAsset("data/sotu-era/train.jsonl");
        var output = new Option<DirectoryInfo>("--output") { Description = "Task folder.", DefaultValueFactory = _ => new DirectoryInfo("runs/rank-recovery") }.Folder();
        var targets = new Option<string>("--targets") { Description = "Regex of the modules the teacher changes.", DefaultValueFactory = _ => @".*\.(query|key|value|attention\.output\.dense|intermediate\.dense|output\.dense)" };
        var labels = new Option<int>("--labels") { Description = "Number of classes.", DefaultValueFactory = _ => 4 }.AtLeast(2);
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var rankRecovery = new Command("rank-recovery", "Teacher = base + low-rank updates of known ranks per module (some zero); the student learns its labels; truth.json records the ranks.\n\nExample:\n  peft make-task rank-recovery --output runs/rank-recovery")
        {
            baseDir, texts, output, targets, labels, seed,
        };
        rankRecovery.SetAction(result => Program.Guarded(() =>
        {
            var corpus = File.ReadLines(result.GetValue(texts)!.FullName).Where(l => l.Trim().Length > 0)
                .Select(l => JsonNode.Parse(l)?["text"]?.GetValue<string>() ?? throw new PeftException("a record has no 'text' field")).ToList();
            var truth = RankRecoveryTask.Generate(result.GetValue(baseDir)!.FullName, corpus, result.GetValue(output)!.FullName, TargetModules.FromRegex(result.GetValue(targets)!), result.GetValue(labels), result.GetValue(seed));
            foreach (var (module, rank) in truth)
            {
                Console.WriteLine($"{rank,3}  {module}");
            }

            Console.WriteLine($"task written to {result.GetValue(output)!.FullName}");
            return Program.Success;
        }));
        return new Command("make-task", "Generate synthetic tasks.") { rankRecovery };
    }
}
