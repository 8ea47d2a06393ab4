using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Training;
using PeftSharp.Training.Baseline;

namespace PeftSharp.Benchmarks;

/// <summary>The training budget of a <see cref="ClassificationQualityTask"/>, the same for every configuration.</summary>
/// <param name="Steps">Optimizer steps.</param>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="MaxLength">Tokens per example.</param>
/// <param name="TestLimit">Score on the first this many test examples (null: all).</param>
public sealed record ClassificationBudget(int Steps, int BatchSize, int MaxLength, int? TestLimit = null);

/// <summary>
/// Sequence classification on a bundled task with an encoder (the imported MiniLM): query and value
/// adapted, classifier and pooler trained in full, every configuration with the same steps, batch and
/// length, at its method's recommended learning rate (<see cref="AdapterMethod.RecommendedLearningRate"/>,
/// else <see cref="DefaultLearningRate"/>). The score is the test accuracy (points) of the published
/// adapter (saved, then reloaded on a fresh base: SoRA pruned, AdaLoRA at its kept ranks).
/// </summary>
public sealed class ClassificationQualityTask : IQualityTask
{
    /// <summary>The learning rate of methods that recommend none for classification (the demo's).</summary>
    public const double DefaultLearningRate = 1e-3;

    private readonly string _baseDirectory;
    private readonly string _dataDirectory;
    private readonly ClassificationBudget _budget;
    private readonly Lazy<(ClassificationDataset Train, ClassificationDataset Validation, ClassificationDataset Test, TextTokenizer Tokenizer)> _data;

    /// <summary>The task on the data in <paramref name="dataDirectory"/> (train/validation/test.jsonl) with the encoder in <paramref name="baseDirectory"/>.</summary>
    public ClassificationQualityTask(string baseDirectory, string dataDirectory, ClassificationBudget budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        _baseDirectory = baseDirectory;
        _dataDirectory = dataDirectory;
        _budget = budget;
        Name = $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseDirectory)))}/{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataDirectory)))}";
        _data = new(Load);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public string ScoreName => "accuracy";

    /// <summary>The budget every configuration trains with.</summary>
    public ClassificationBudget Budget => _budget;

    /// <inheritdoc />
    public BenchmarkSettings Settings(int rank) => new(TargetModules.FromNames("query", "value"), ["classifier", "pooler"], TotalSteps: _budget.Steps, Rank: rank);

    /// <inheritdoc />
    public QualityRun Run(string configuration, string method, AdapterConfig config, int seed, string output, QualityExtras extras)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(extras);
        var clock = Stopwatch.StartNew();
        var (train, _, test, tokenizer) = _data.Value;
        var rate = config.Method.RecommendedLearningRate(AdapterTask.SequenceClassification) ?? DefaultLearningRate;
        var options = new TrainerOptions { MaxSteps = _budget.Steps, BatchSize = _budget.BatchSize, MaxLength = _budget.MaxLength, LearningRate = rate, HeadLearningRate = rate, Seed = seed, LogEvery = 0 };
        if (Directory.Exists(output))
        {
            Directory.Delete(output, recursive: true);
        }

        var published = Path.Combine(output, "adapter");
        long adapterParameters;
        TorchSharp.torch.manual_seed(seed);
        using (var model = PretrainedModel.ForSequenceClassification(_baseDirectory, train.Labels, out _))
        {
            var peft = PeftModel.Create(model, config);
            adapterParameters = peft.GetAdapterParameterCount();
            new Trainer(model, peft, tokenizer, options).Train(train, validation: null);
            peft.SavePretrained(published);
        }

        // The published adapter on a fresh base, loaded trainable so that its parameters count.
        var fresh = PretrainedModel.ForSequenceClassification(_baseDirectory, train.Labels, out _);
        var trained = new Trainer(fresh, PeftModel.FromPretrained(fresh, published, isTrainable: true), tokenizer, options);
        var result = trained.Evaluate(test);
        var seconds = clock.Elapsed.TotalSeconds;
        var ranks = trained.Peft.GetEffectiveRanks();
        var exportParameters = RankBudget.Parameters(trained.Peft, ranks);
        double ScoreCut(string folder)
        {
            var cut = Trainer.ForSavedAdapter(_baseDirectory, folder, train.Labels, tokenizer, options);
            var score = cut.Evaluate(test).Accuracy * 100;
            cut.Peft.Model.Dispose();
            return score;
        }

        Dictionary<double, double> atBudget;
        Dictionary<int, double> atRank;
        try
        {
            var scoresAtBudget = RankCuts.ScoreBudgets(trained.Peft, extras.BudgetFractions, (_, folder) => ScoreCut(folder));
            atBudget = extras.BudgetFractions.Zip(scoresAtBudget).ToDictionary(p => p.First, p => p.Second);
            atRank = extras.Ranks.ToDictionary(r => r, r => RankCuts.Score(trained.Peft, r, r, (_, folder) => ScoreCut(folder))[0]);
        }
        catch (InvalidOperationException)
        {
            // A path with no exact static ΔW (Mo-SARA routes per token) has no plain-LoRA cut: no extras.
            (atBudget, atRank) = (new(), new());
        }
        var publishedParameters = trained.Peft.GetAdapterParameterCount();
        trained.Peft.Model.Dispose();
        return new QualityRun(Name, configuration, method, seed, result.Accuracy * 100,
            new Dictionary<string, double> { ["accuracy"] = result.Accuracy * 100, ["macro_f1"] = result.MacroF1 * 100, ["mcc"] = result.Mcc * 100, ["loss"] = result.Loss },
            adapterParameters, publishedParameters, ranks.Values.Sum(), seconds)
        {
            ScoresAtBudget = atBudget,
            ScoresAtRank = atRank,
            ExportParameters = exportParameters,
        };
    }

    /// <summary>The TF-IDF + logistic-regression baseline on the same splits (the test split cut as the runs' is), as a record in points.</summary>
    public BenchRecord Baseline()
    {
        var (train, validation, test, _) = _data.Value;
        var baseline = TfIdfBaseline.Fit(train, validation, test);
        return new BenchRecord($"{Name}: TF-IDF + logistic regression baseline (accuracy, points)", baseline.TestAccuracy * 100, "points",
            Detail: string.Create(CultureInfo.InvariantCulture, $"deterministic; λ {baseline.Penalty:G3} chosen on validation; macro-F1 {baseline.TestMacroF1 * 100:0.##}; {test.Examples.Count} test examples"));
    }

    private (ClassificationDataset, ClassificationDataset, ClassificationDataset, TextTokenizer) Load()
    {
        var train = ClassificationDataset.Load(Path.Combine(_dataDirectory, "train.jsonl"));
        var validation = ClassificationDataset.Load(Path.Combine(_dataDirectory, "validation.jsonl"), labels: train.Labels);
        var test = ClassificationDataset.Load(Path.Combine(_dataDirectory, "test.jsonl"), labels: train.Labels);
        var tokenizer = TextTokenizer.TryLoad(_baseDirectory) ?? throw new PeftException($"{_baseDirectory} has no tokenizer files (vocab.txt / tokenizer.json)");
        return (train, validation, _budget.TestLimit is { } n ? test.Take(n) : test, tokenizer);
    }
}
