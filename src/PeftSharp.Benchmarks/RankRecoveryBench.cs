using System.Globalization;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Models;
using PeftSharp.Training;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Rank recovery: a teacher is the bundled base plus low-rank updates of known ranks in query/value
/// (<see cref="RankRecoveryTask"/>); students (the methods' <see cref="BenchmarkKind.RankRecovery"/> variants: AdaLoRA, SoRA) learn the teacher's labels with the
/// teacher's head frozen, and the Spearman correlation of their final per-module ranks with the true
/// ranks says whether their allocation finds where the change is.
/// </summary>
public static class RankRecoveryBench
{
    /// <summary>Builds the task and trains both students for <paramref name="steps"/> steps.</summary>
    public static IReadOnlyList<BenchRecord> Run(string root, int steps, string output, TextWriter log)
    {
        var baseDir = Path.Combine(root, "models", "base");
        var texts = ClassificationDataset.Load(Path.Combine(root, "data", "sotu-era", "train.jsonl")).Examples.Select(e => e.Text).ToList();
        var taskDir = Path.Combine(output, "task");
        var targets = TargetModules.FromNames("query", "value");
        var truth = RankRecoveryTask.Generate(baseDir, texts, taskDir, targets);
        var labels = ConfigJson.Load(Path.Combine(taskDir, "truth.json")).Strings("labels")!;
        var train = ClassificationDataset.Load(Path.Combine(taskDir, "train.jsonl"), labels: labels);
        var validation = ClassificationDataset.Load(Path.Combine(taskDir, "validation.jsonl"), labels: labels);
        var tokenizer = TextTokenizer.TryLoad(baseDir)!;
        var targetR = (int)Math.Round(truth.Values.Average());
        var students = MethodStepBench.Variants(BenchmarkKind.RankRecovery)
            .Select(v => (v.Variant.Name, Config: v.Variant.Create(new BenchmarkSettings(targets, [], TotalSteps: steps, Rank: targetR))))
            .ToList();
        var records = new List<BenchRecord>();
        foreach (var (name, config) in students)
        {
            TorchSharp.torch.manual_seed(0);
            var student = RankRecoveryTask.Student(baseDir, taskDir);
            var peft = PeftModel.Create(student, config);
            var options = new TrainerOptions { MaxSteps = steps, BatchSize = 16, LearningRate = 1e-3, MaxLength = 64, EvalEvery = steps, Seed = 0, LogEvery = 0, OutputDirectory = Path.Combine(output, name) };
            new Trainer(student, peft, tokenizer, options).Train(train, validation);
            var ranks = peft.GetEffectiveRanks();
            var names = truth.Keys.ToList();
            var rho = Spearman(names.Select(n => (double)truth[n]).ToList(), names.Select(n => (double)ranks[n]).ToList());
            records.Add(new BenchRecord($"rank recovery Spearman ({name})", rho, "rho", 0.9, AtLeast: true,
                Detail: $"true {string.Join(" ", names.Select(n => truth[n]))} vs found {string.Join(" ", names.Select(n => ranks[n]))}; {steps} steps"));
            log.WriteLine(records[^1]);
        }

        return records;
    }

    /// <summary>Spearman's rank correlation (ties get their average rank); NaN when either side is constant.</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        static double[] Ranks(IReadOnlyList<double> v)
        {
            var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
            var ranks = new double[v.Count];
            for (var i = 0; i < order.Length;)
            {
                var j = i;
                while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]])
                {
                    j++;
                }

                for (var k = i; k <= j; k++)
                {
                    ranks[order[k]] = (i + j) / 2.0 + 1;
                }

                i = j + 1;
            }

            return ranks;
        }

        var (rx, ry) = (Ranks(x), Ranks(y));
        var (mx, my) = (rx.Average(), ry.Average());
        var cov = rx.Zip(ry, (a, b) => (a - mx) * (b - my)).Sum();
        var vx = rx.Sum(a => (a - mx) * (a - mx));
        var vy = ry.Sum(b => (b - my) * (b - my));
        return vx == 0 || vy == 0 ? double.NaN : cov / Math.Sqrt(vx * vy);
    }
}
