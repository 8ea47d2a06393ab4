using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Training;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft make-task rank-recovery</c>: write the rank-recovery benchmark's teacher (its truth and updates).</summary>
internal static class MakeTaskCommand
{
    public static Command Create()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "The decoder the teacher changes." }.DefaultAsset("models/decoder");
        var corpus = new Option<FileInfo>("--corpus") { Description = "Text whose tokens the modules' input statistics are measured on." }.DefaultAsset("data/corpus/moby-dick.txt");
        var output = new Option<DirectoryInfo>("--output") { Description = "Task folder.", DefaultValueFactory = _ => new DirectoryInfo("runs/rank-recovery-task") }.Folder();
        var targets = new Option<string[]>("--targets") { Description = "Projection names the teacher changes.", DefaultValueFactory = _ => ["o_proj", "down_proj"], AllowMultipleArgumentsPerToken = true };
        var strength = new Option<double>("--strength") { Description = "Each update direction's effect relative to the base map's RMS singular value on the module's inputs.", DefaultValueFactory = _ => RankRecoverySettings.Full.Strength };
        strength.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<double>();
            if (!(value > 0 && double.IsFinite(value)))
            {
                result.AddError(OptionMessages.About(strength, string.Create(CultureInfo.InvariantCulture, $"must be a positive number, got {value}")));
            }
        });
        var seed = new Option<int>("--seed") { Description = "Seed of the ranks and the update directions.", DefaultValueFactory = _ => 0 };
        var rankRecovery = new Command("rank-recovery", "Teacher = base decoder + an update of known rank in every target projection (ranks vary within a type, zeros included); writes truth.json and teacher_deltas.safetensors. `peft bench --only rank-recovery` trains the students on it.\n\nExample:\n  peft make-task rank-recovery --targets o_proj down_proj --seed 1")
        {
            baseDir, corpus, output, targets, strength, seed,
        };
        rankRecovery.SetAction(result => Program.Guarded(() =>
        {
            var settings = RankRecoverySettings.Full;
            var (rows, _) = RankRecoveryBench.CorpusRows(result.GetValue(corpus)!.FullName, result.GetValue(baseDir)!.FullName, settings.MomentRows, 0, settings.SequenceLength);
            using var teacher = RankRecoveryTeacher.Create(result.GetValue(baseDir)!.FullName, TargetModules.FromNames(result.GetValue(targets)!), rows, result.GetValue(seed), result.GetValue(strength));
            teacher.Save(result.GetValue(output)!.FullName);
            foreach (var module in teacher.Modules)
            {
                Console.WriteLine($"{module.Rank,3}  {module.Name}");
            }

            Console.WriteLine($"task written to {result.GetValue(output)!.FullName}");
            return Program.Success;
        }));
        return new Command("make-task", "Generate synthetic tasks.") { rankRecovery };
    }
}
