using PeftSharp.Adapters;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>The size of a rank-recovery run (<see cref="RankRecoveryBench"/>).</summary>
public sealed record RankRecoverySettings
{
    /// <summary>The full suite's settings.</summary>
    public static RankRecoverySettings Full { get; } = new();

    /// <summary>The quick suite's settings: 200 steps (the oracle recovers the ranks from about 200; at 100 it does not) and 2 seeds.</summary>
    public static RankRecoverySettings Quick { get; } = new() { Steps = 200, Seeds = 2 };

    /// <summary>The decoder projections the teacher changes (default: <c>o_proj</c> and <c>down_proj</c> of every layer, <see cref="RankRecoveryBench.Targets"/>).</summary>
    public TargetModules Targets { get; init; } = RankRecoveryBench.Targets;

    /// <summary>Optimizer steps of every student (the same budget for all).</summary>
    public int Steps { get; init; } = 300;

    /// <summary>Seeds (teacher ranks and directions, student initialisation, data order); the statistics are over them.</summary>
    public int Seeds { get; init; } = 5;

    /// <summary>Rows per step.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Tokens per row.</summary>
    public int SequenceLength { get; init; } = 64;

    /// <summary>Training rows taken from the corpus.</summary>
    public int TrainRows { get; init; } = 1024;

    /// <summary>What the students learn of the teacher (default: every layer's hidden states).</summary>
    public DistillationTarget Target { get; init; } = DistillationTarget.HiddenStates;

    /// <summary>Held-out rows the loss figures are measured on.</summary>
    public int ValidationRows { get; init; } = 32;

    /// <summary>The teacher's strength (<see cref="RankRecoveryTeacher.Strength"/>).</summary>
    public double Strength { get; init; } = 0.7;

    /// <summary>Training rows the teacher measures its modules' inputs on.</summary>
    public int MomentRows { get; init; } = 64;

    /// <summary>Peak learning rate of the adapter students.</summary>
    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Peak learning rate of the oracle's dense updates (in units of each module's own map, <see cref="WhitenedDenseDelta"/>).</summary>
    public double OracleLearningRate { get; init; } = 1e-3;

    /// <summary>Whether to train the oracle (the calibration; off only for ablations of the methods).</summary>
    public bool Oracle { get; init; } = true;

    /// <summary>The oracle's rule: a learned direction counts when its singular value reaches this fraction of the teacher's per-direction strength of the module.</summary>
    public double OracleThreshold { get; init; } = 0.5;
}

/// <summary>
/// Rank recovery: a teacher is the bundled decoder plus random updates of known rank in all seven
/// projections of every layer (<see cref="RankRecoveryTeacher"/>: ranks vary within a module type and
/// include zeros); students start from the base and learn the teacher's full next-token
/// distributions over corpus tokens (<see cref="DistillationTask"/>). An oracle — a dense trainable
/// update per module (<see cref="WhitenedDenseDelta"/>) — calibrates the task: the singular values of
/// its learned updates' effect on the modules' inputs should show the true ranks. The methods' <see cref="BenchmarkKind.RankRecovery"/> variants (AdaLoRA, SoRA) are
/// scored by the Spearman correlation of their final per-module ranks with the true ranks, each over
/// several seeds (mean and 95 % t interval).
/// </summary>
public static class RankRecoveryBench
{
    /// <summary>
    /// The decoder projections the teacher changes: the two that write into the residual stream,
    /// <c>o_proj</c> and <c>down_proj</c>, in every layer. With every layer's output supervised their
    /// updates are identifiable; the others are not (q/k meet in a bilinear form, v in a product with
    /// o, gate and up in one with each other), and a full-rank oracle over all seven recovers little.
    /// </summary>
    public static TargetModules Targets { get; } = TargetModules.FromNames("o_proj", "down_proj");

    /// <summary>The name of the dense-update student in records.</summary>
    public const string Oracle = "oracle";

    /// <summary>
    /// Runs the oracle and every student at every seed and returns the records (also written to
    /// <c>rank-recovery.json</c> in <paramref name="output"/>). The students are the methods'
    /// <see cref="BenchmarkKind.RankRecovery"/> variants unless <paramref name="students"/> names others
    /// (ablations: other settings of a method under their own names).
    /// </summary>
    public static IReadOnlyList<BenchRecord> Run(string root, RankRecoverySettings settings, string output, TextWriter log, IReadOnlyList<BenchmarkVariant>? students = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        var variants = students ?? [.. MethodStepBench.Variants(BenchmarkKind.RankRecovery).Select(v => v.Variant)];
        var decoder = Path.Combine(root, "models", "decoder");
        var (train, validation) = CorpusRows(Path.Combine(root, "data", "corpus", "moby-dick.txt"), decoder, settings.TrainRows, settings.ValidationRows, settings.SequenceLength);
        var results = new List<SeedResult>();
        for (var seed = 0; seed < settings.Seeds; seed++)
        {
            results.Add(RunSeed(decoder, train, validation, settings, variants, seed, Path.Combine(output, $"seed-{seed}"), log));
        }

        WriteResults(Path.Combine(output, "rank-recovery.json"), settings, results);
        return Summarise(settings, results);
    }

    /// <summary>What one seed gave: the truth, the teacher's effect and every student's ranks, Spearman and final loss.</summary>
    /// <param name="Seed">The seed.</param>
    /// <param name="Modules">The target modules in model order.</param>
    /// <param name="TrueRanks">The teacher's ranks in module order.</param>
    /// <param name="TeacherBaseLoss">The distillation loss of the base against the teacher on the held-out rows (where every student starts).</param>
    /// <param name="Students">Per student: found ranks in module order, Spearman ρ, final loss, seconds.</param>
    /// <param name="OracleSpectra">The oracle's leading singular values of its learned effect per module, relative to the teacher's per-direction strength.</param>
    public sealed record SeedResult(int Seed, IReadOnlyList<string> Modules, IReadOnlyList<int> TrueRanks, double TeacherBaseLoss, IReadOnlyDictionary<string, StudentResult> Students, IReadOnlyList<double[]> OracleSpectra);

    /// <summary>One student's result at one seed.</summary>
    /// <param name="Ranks">Found ranks in module order.</param>
    /// <param name="Spearman">Spearman ρ with the true ranks (0 when the student gave every module the same rank).</param>
    /// <param name="FinalLoss">The distillation loss on the held-out rows after training.</param>
    /// <param name="Seconds">Training time.</param>
    public sealed record StudentResult(IReadOnlyList<int> Ranks, double Spearman, double FinalLoss, double Seconds);

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

    /// <summary>The mean of <paramref name="values"/> and the half-width of its 95 % Student-t interval (<see cref="ConfidenceInterval.Of"/>; 0 for a single value).</summary>
    public static (double Mean, double HalfWidth) MeanInterval(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 1)
        {
            return (values[0], 0);
        }

        var interval = ConfidenceInterval.Of(values);
        return (interval.Mean, interval.HalfWidth);
    }

    /// <summary>The oracle's effective ranks: per module, the singular values of its learned update's effect on the inputs (<see cref="TeacherModule.RelativeEffectSpectrum"/>) that reach <paramref name="threshold"/> × the teacher's direction strength.</summary>
    public static int[] OracleRanks(IReadOnlyList<double[]> relativeSpectra, double threshold) =>
        [.. relativeSpectra.Select(s => LowRankDeltas.EffectiveRank(s, threshold))];

    /// <summary>
    /// Rows of <paramref name="sequenceLength"/> token ids of the text in <paramref name="corpusPath"/>
    /// (paragraph by paragraph from its start, tokenized with <paramref name="decoder"/>'s tokenizer and
    /// packed with its end-of-text token): the first <paramref name="trainRows"/> for training, the last
    /// <paramref name="validationRows"/> held out.
    /// </summary>
    /// <exception cref="PeftConfigurationException">The tokenizer has no end-of-text token, or the text gives too few rows.</exception>
    public static (List<long[]> Train, List<long[]> Validation) CorpusRows(string corpusPath, string decoder, int trainRows, int validationRows, int sequenceLength)
    {
        var tokenizer = HfTokenizer.Load(decoder);
        var endOfText = tokenizer.TokenToId(ChatTokenizerFiles.EndOfText) ?? throw new PeftConfigurationException($"{decoder}: the tokenizer has no {ChatTokenizerFiles.EndOfText} token");
        var need = trainRows + validationRows;
        // Paragraphs in order until the rows are there (about 4 characters per token).
        var chapters = new List<string>();
        long characters = 0;
        foreach (var chapter in File.ReadLines(corpusPath).Where(l => l.Trim().Length > 0))
        {
            chapters.Add(chapter);
            characters += chapter.Length;
            if (characters > need * sequenceLength * 5L)
            {
                break;
            }
        }

        var rows = CausalLMPretrainer.Pack(chapters, tokenizer, endOfText, sequenceLength);
        if (rows.Count < need)
        {
            throw new PeftConfigurationException($"{corpusPath} gives {rows.Count} rows of {sequenceLength} tokens; {need} are needed");
        }

        return ([.. rows.Take(trainRows)], [.. rows.Skip(rows.Count - validationRows)]);
    }

    private static SeedResult RunSeed(string decoder, List<long[]> train, List<long[]> validation, RankRecoverySettings settings, IReadOnlyList<BenchmarkVariant> variants, int seed, string output, TextWriter log)
    {
        using var teacher = RankRecoveryTeacher.Create(decoder, settings.Targets, train.Take(settings.MomentRows).ToList(), seed, settings.Strength);
        teacher.Save(Path.Combine(output, "task"));
        var names = teacher.Modules.Select(m => m.Name).ToList();
        var truth = teacher.Modules.Select(m => m.Rank).ToList();
        double teacherBaseLoss;
        double[]? scales = null;
        using (var plain = teacher.LoadBase())
        {
            if (settings.Target == DistillationTarget.HiddenStates)
            {
                // Each layer's loss is the share of the teacher's change at that layer still missing.
                scales = DistillationTask.HiddenStateScales(teacher.Model, plain, train.Take(settings.MomentRows).ToList(), settings.BatchSize);
            }

            teacherBaseLoss = DistillationTask.MeanLoss(settings.Target, teacher.Model, plain, validation, settings.BatchSize, scales);
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seed {seed}: true ranks {string.Join(" ", truth)}; {DistillationTask.MetricName(settings.Target)}(teacher, base) {teacherBaseLoss:G4}"));
        var students = new Dictionary<string, StudentResult>(StringComparer.Ordinal);
        IReadOnlyList<double[]> spectra = [];
        if (settings.Oracle)
        {
            (var oracle, spectra) = TrainOracle(teacher, train, validation, settings, seed);
            students[Oracle] = oracle;
            Report(Oracle, oracle);
        }

        var meanRank = (int)Math.Round(truth.Average());
        foreach (var variant in variants)
        {
            var config = variant.Create(new BenchmarkSettings(settings.Targets, [], TotalSteps: settings.Steps, Rank: meanRank));
            var result = TrainAdapter(teacher, config, train, validation, settings, seed);
            students[variant.Name] = result;
            Report(variant.Name, result);
        }

        return new SeedResult(seed, names, truth, teacherBaseLoss, students, spectra);

        void Report(string name, StudentResult r) => log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {name}: ρ {r.Spearman:F3}; found {string.Join(" ", r.Ranks)}; {DistillationTask.MetricName(settings.Target)} {r.FinalLoss:G4} ({r.FinalLoss / teacherBaseLoss:P0} of the base's); {r.Seconds:F0} s"));
        // A student that gives every module the same rank ranks nothing: ρ 0 rather than NaN.
        StudentResult Score(IReadOnlyList<int> found, double loss, double seconds) =>
            new(found, Spearman([.. truth.Select(r => (double)r)], [.. found.Select(r => (double)r)]) is var rho && double.IsNaN(rho) ? 0 : rho, loss, seconds);

        (StudentResult, IReadOnlyList<double[]>) TrainOracle(RankRecoveryTeacher t, List<long[]> rows, List<long[]> held, RankRecoverySettings s, int runSeed)
        {
            manual_seed(runSeed);
            using var student = t.LoadBase();
            foreach (var parameter in student.parameters())
            {
                parameter.requires_grad = false;
            }

            var deltas = t.Modules.Select(m =>
            {
                var delta = new WhitenedDenseDelta((Linear)student.named_modules().Single(n => n.name == m.Name).module, m.InputRoot);
                ModuleSurgery.ReplaceChild(student, m.Name, delta);
                return delta;
            }).ToList();
            var task = new DistillationTask(student, t.Model, rows, held, s.BatchSize, runSeed, s.Target, scales);
            var options = Options(s, runSeed, s.OracleLearningRate);
            var outcome = new TrainingLoop(task, options, [new ParameterGroup("dense", [.. deltas.Select(d => d.Effect)], s.OracleLearningRate, 0)]).Run();
            var relative = t.Modules.Select((m, i) =>
            {
                using var scope = NewDisposeScope();
                return m.RelativeEffectSpectrum(deltas[i].Delta());
            }).ToList();
            var result = Score(OracleRanks(relative, s.OracleThreshold), outcome.Evaluations[^1].Loss, outcome.SecondsPerStep * outcome.Steps);
            return (result, [.. relative.Select(v => v.Take(12).ToArray())]);
        }

        StudentResult TrainAdapter(RankRecoveryTeacher t, AdapterConfig config, List<long[]> rows, List<long[]> held, RankRecoverySettings s, int runSeed)
        {
            manual_seed(runSeed);
            using var student = t.LoadBase();
            var peft = PeftModel.Create(student, config);
            var task = new DistillationTask(student, t.Model, rows, held, s.BatchSize, runSeed, s.Target, scales);
            var options = Options(s, runSeed, s.LearningRate);
            var outcome = new TrainingLoop(task, options, ParameterGroups.ForAdapter(peft, options), peft).Run();
            var ranks = peft.GetEffectiveRanks();
            return Score([.. names.Select(n => ranks[n])], outcome.Evaluations[^1].Loss, outcome.SecondsPerStep * outcome.Steps);
        }
    }

    private static TrainerOptions Options(RankRecoverySettings settings, int seed, double learningRate) => new()
    {
        MaxSteps = settings.Steps,
        BatchSize = settings.BatchSize,
        LearningRate = learningRate,
        WeightDecay = 0,
        EvalEvery = settings.Steps,
        Metric = DistillationTask.MetricName(settings.Target),
        Seed = seed,
        LogEvery = 0,
    };

    private static List<BenchRecord> Summarise(RankRecoverySettings settings, IReadOnlyList<SeedResult> results)
    {
        string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        var records = new List<BenchRecord>();
        var (baseLoss, baseHalf) = MeanInterval([.. results.Select(r => r.TeacherBaseLoss)]);
        records.Add(new BenchRecord($"rank recovery {DistillationTask.MetricName(settings.Target)}(teacher, base)", baseLoss, settings.Target == DistillationTarget.HiddenStates ? "fraction" : "nats/token",
            Detail: string.Create(CultureInfo.InvariantCulture, $"95 % CI ± {F(baseHalf)} over {results.Count} seeds; each direction's effect on the module's inputs {settings.Strength} × the base map's RMS singular value on them; {results[0].Modules.Count} modules")));
        foreach (var name in results[0].Students.Keys)
        {
            var rhos = results.Select(r => r.Students[name].Spearman).ToList();
            var (mean, half) = MeanInterval(rhos);
            var left = results.Select(r => r.Students[name].FinalLoss / r.TeacherBaseLoss).Average();
            records.Add(new BenchRecord($"rank recovery Spearman ({name})", mean, "rho", 0.9, AtLeast: true,
                Detail: string.Create(CultureInfo.InvariantCulture, $"95 % CI [{F(mean - half)}, {F(mean + half)}] over {results.Count} seeds (per seed {string.Join(" ", rhos.Select(F))}); ") +
                    string.Create(CultureInfo.InvariantCulture, $"{DistillationTask.MetricName(settings.Target)} left {left:P0} of the base's; {settings.Steps} steps; seed 0 true {string.Join(" ", results[0].TrueRanks)} vs found {string.Join(" ", results[0].Students[name].Ranks)}")));

            // Evidence for a student that does not follow the truth: does its allocation follow depth instead?
            var depth = results.Select(r => DepthSpearman(r.Modules, r.Students[name].Ranks)).ToList();
            var (depthMean, depthHalf) = MeanInterval(depth);
            records.Add(new BenchRecord($"rank recovery: found ranks vs depth ({name})", depthMean, "rho",
                Detail: string.Create(CultureInfo.InvariantCulture, $"Spearman of the found ranks with −layer index (1: earlier layers get more); 95 % CI [{F(depthMean - depthHalf)}, {F(depthMean + depthHalf)}] over {results.Count} seeds; the truth's: {F(results.Average(r => DepthSpearman(r.Modules, r.TrueRanks)))}")));
        }

        return records;
    }

    /// <summary>Spearman ρ of <paramref name="ranks"/> with minus each module's layer index (<see cref="TargetSelector.LayerIndex"/>, 0 when it has none); 0 when either is constant.</summary>
    public static double DepthSpearman(IReadOnlyList<string> modules, IReadOnlyList<int> ranks)
    {
        ArgumentNullException.ThrowIfNull(modules);
        ArgumentNullException.ThrowIfNull(ranks);
        var layers = modules.Select(m => -(double)(TargetSelector.LayerIndex(m, null) ?? 0)).ToList();
        return Spearman(layers, [.. ranks.Select(r => (double)r)]) is var rho && double.IsNaN(rho) ? 0 : rho;
    }

    private static void WriteResults(string path, RankRecoverySettings settings, IReadOnlyList<SeedResult> results)
    {
        var json = new JsonObject
        {
            ["steps"] = settings.Steps,
            ["batch_size"] = settings.BatchSize,
            ["sequence_length"] = settings.SequenceLength,
            ["strength"] = settings.Strength,
            ["target"] = DistillationTask.MetricName(settings.Target),
            ["modules"] = settings.Targets.ToString(),
            ["learning_rate"] = settings.LearningRate,
            ["oracle_learning_rate"] = settings.OracleLearningRate,
            ["oracle_threshold"] = settings.OracleThreshold,
            ["seeds"] = new JsonArray([.. results.Select(r => (JsonNode?)new JsonObject
            {
                ["seed"] = r.Seed,
                ["modules"] = new JsonArray([.. r.Modules.Select(m => (JsonNode?)m)]),
                ["true_ranks"] = new JsonArray([.. r.TrueRanks.Select(v => (JsonNode?)v)]),
                ["teacher_base_loss"] = r.TeacherBaseLoss,
                ["oracle_spectra"] = new JsonArray([.. r.OracleSpectra.Select(s => (JsonNode?)new JsonArray([.. s.Select(v => (JsonNode?)Math.Round(v, 4))]))]),
                ["students"] = new JsonObject(r.Students.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject
                {
                    ["ranks"] = new JsonArray([.. kv.Value.Ranks.Select(v => (JsonNode?)v)]),
                    ["spearman"] = kv.Value.Spearman,
                    ["final_loss"] = kv.Value.FinalLoss,
                    ["seconds"] = kv.Value.Seconds,
                }))),
            })]),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteAllText(path, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
