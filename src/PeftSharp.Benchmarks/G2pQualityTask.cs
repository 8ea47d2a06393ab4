using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Benchmarks;

/// <summary>
/// The generative task of the quality protocol: the bundled decoder fine-tuned on grapheme-to-phoneme
/// prompt/completion data as <c>peft demo --task g2p</c> trains it (<see cref="GenerativeDemoRunner.Train"/>:
/// the method's recommended causal-LM learning rate times <see cref="GenerativeDemoOptions.LearningRateScale"/>,
/// every linear projection of the decoder adapted), then the final adapter, saved in its published form and
/// reloaded, generates the first <see cref="GenerativeDemoOptions.EvalLimit"/> test pronunciations greedily.
/// <see cref="QualityRun.Score"/> is the word accuracy in points; <see cref="QualityRun.Metrics"/> holds
/// <c>word_accuracy</c> and <c>per</c> (phoneme error rate), both in points (percent).
/// </summary>
public sealed class G2pQualityTask : IQualityTask
{
    /// <summary>Optimizer steps of every run (batches of 16), the budget at which the methods have headroom on the bundled decoder.</summary>
    public const int DefaultSteps = 150;

    /// <summary>Optimizer steps of every run in the quick suite (LoRA reaches about 25 % word accuracy there).</summary>
    public const int QuickSteps = 60;

    /// <summary>Test words scored by the quick suite.</summary>
    public const int QuickTestWords = 100;

    /// <summary>Test words scored by the full suite (the whole test split).</summary>
    public const int FullTestWords = 500;

    /// <summary>The <see cref="QualityRun.Metrics"/> key of the word accuracy (points).</summary>
    public const string WordAccuracy = "word_accuracy";

    /// <summary>The <see cref="QualityRun.Metrics"/> key of the phoneme error rate (points, lower is better).</summary>
    public const string PhonemeErrorRate = "per";

    private readonly Lazy<GenerativeDemoData> _data;
    private readonly Lazy<GenerativeEvaluator> _evaluator;

    /// <summary>
    /// Creates the task on the decoder in <paramref name="baseDirectory"/> and the g2p data in
    /// <paramref name="dataDirectory"/> (<c>train.jsonl</c>, <c>test.jsonl</c>); <paramref name="options"/>
    /// gives the steps, batch size, learning-rate scale and test words (its seed and methods are not used:
    /// the protocol gives them).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public G2pQualityTask(string baseDirectory, string dataDirectory, GenerativeDemoOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(baseDirectory);
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        BaseDirectory = baseDirectory;
        DataDirectory = dataDirectory;
        Options = options;
        _data = new(() => GenerativeDemoData.Load(baseDirectory, dataDirectory, options));
        _evaluator = new(() => GenerativeDemoRunner.Evaluator(baseDirectory, _data.Value.Test, sampleCount: 0));
    }

    /// <summary>The decoder fine-tuned.</summary>
    public string BaseDirectory { get; }

    /// <summary>The g2p task directory.</summary>
    public string DataDirectory { get; }

    /// <summary>The training and evaluation settings.</summary>
    public GenerativeDemoOptions Options { get; }

    /// <inheritdoc />
    public string Name => "decoder/g2p";

    /// <inheritdoc />
    public string ScoreName => "word accuracy";

    /// <summary>
    /// The task on the repository's bundled decoder (<c>models/decoder</c>) and g2p data (<c>data/g2p</c>):
    /// <see cref="DefaultSteps"/> steps of 16 and the g2p demo's learning-rate scale, scored on <see cref="FullTestWords"/>
    /// test words; when <paramref name="quick"/>, <see cref="QuickSteps"/> steps scored on the first <see cref="QuickTestWords"/>.
    /// </summary>
    public static G2pQualityTask ForRepository(string root, bool quick)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        return new(
            Path.Combine(root, "models", "decoder"),
            Path.Combine(root, "data", "g2p"),
            new GenerativeDemoOptions { Steps = quick ? QuickSteps : DefaultSteps, EvalLimit = quick ? QuickTestWords : FullTestWords, SampleCount = 0 });
    }

    /// <summary>Every linear projection of the decoder (q, k, v, o, gate, up, down: PEFT's <c>all-linear</c>, as the g2p demo's causal-LM presets), nothing trained in full, <see cref="GenerativeDemoOptions.Steps"/> steps.</summary>
    public BenchmarkSettings Settings(int rank) => new(TargetModules.AllLinear, [], Options.Steps, rank);

    /// <summary>
    /// Trains <paramref name="config"/> at <paramref name="seed"/> (the adapter's initialisation, the data
    /// order and dropout), saves the final adapter in its published form to <paramref name="output"/>/<c>final</c>,
    /// reloads it on a fresh decoder and scores it. <see cref="QualityRun.Seconds"/> covers training, publishing
    /// and that scoring, not the extras. <see cref="QualityRun.ScoresAtBudget"/>: the published adapter
    /// exported at each fraction of its plain-LoRA parameters (<see cref="RankCuts.ScoreBudgets"/>);
    /// <see cref="QualityRun.ScoresAtRank"/>: cut to each rank as <c>peft eval --ranks</c> cuts it (<see cref="RankCuts.Score"/>).
    /// </summary>
    /// <exception cref="PeftConfigurationException"><paramref name="method"/> is no registered method.</exception>
    public QualityRun Run(string configuration, string method, AdapterConfig config, int seed, string output, QualityExtras extras)
    {
        ArgumentException.ThrowIfNullOrEmpty(configuration);
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(output);
        ArgumentNullException.ThrowIfNull(extras);
        var adapterMethod = AdapterMethodRegistry.Find(method)
            ?? throw new PeftConfigurationException($"quality task {Name}: unknown method '{method}' (known: {string.Join(", ", AdapterMethodRegistry.All.Select(m => m.Name))})");
        if (Directory.Exists(output))
        {
            Directory.Delete(output, recursive: true);
        }

        // The protocol's variants are built for any task; on this one the adapter is a causal-LM adapter.
        config.TaskType = "CAUSAL_LM";
        var clock = Stopwatch.StartNew();
        var trained = GenerativeDemoRunner.Train(BaseDirectory, _data.Value, adapterMethod, config, Options with { Seed = seed }, output, TextWriter.Null);
        var adapterParameters = trained.Peft.GetAdapterParameterCount();
        var published = Path.Combine(output, "final");
        trained.Peft.SavePretrained(published);
        trained.Model.Dispose();
        var peft = PeftModel.FromPretrained(CausalLmSetup.LoadDecoder(BaseDirectory), published, isTrainable: true);
        var metrics = Evaluate(peft);
        var seconds = clock.Elapsed.TotalSeconds;
        Dictionary<double, double> atBudget;
        Dictionary<int, double> atRank;
        try
        {
            var scoresAtBudget = RankCuts.ScoreBudgets(peft, extras.BudgetFractions, (_, cut) => Score(cut));
            var scoresAtRank = extras.Ranks.Select(rank => RankCuts.Score(peft, rank, rank, (_, cut) => Score(cut))[0]).ToList();
            atBudget = extras.BudgetFractions.Zip(scoresAtBudget).ToDictionary(p => p.First, p => p.Second);
            atRank = extras.Ranks.Zip(scoresAtRank).ToDictionary(p => p.First, p => p.Second);
        }
        catch (InvalidOperationException)
        {
            // A path with no exact static ΔW (Mo-SARA routes per token) has no plain-LoRA cut: no extras,
            // as in the classification task.
            (atBudget, atRank) = (new(), new());
        }

        var run = new QualityRun(Name, configuration, method, seed, metrics[WordAccuracy], metrics, adapterParameters, peft.GetAdapterParameterCount(), peft.GetEffectiveRanks().Values.Sum(), seconds)
        {
            ScoresAtBudget = atBudget,
            ScoresAtRank = atRank,
        };
        peft.Model.Dispose();
        return run;
    }

    /// <summary>Word accuracy and phoneme error rate, in points, of <paramref name="peft"/>'s decoder on the test words.</summary>
    private Dictionary<string, double> Evaluate(PeftModel peft)
    {
        var evaluation = _evaluator.Value.Evaluate((DecoderForCausalLM)peft.Model, _data.Value.Test);
        return new(StringComparer.Ordinal)
        {
            [WordAccuracy] = evaluation.Metrics[GenerationMetrics.WordAccuracy] * 100,
            [PhonemeErrorRate] = evaluation.Metrics[GenerationMetrics.PhonemeErrorRate] * 100,
        };
    }

    /// <summary>The word accuracy in points of the adapter in <paramref name="directory"/> on a fresh decoder.</summary>
    private double Score(string directory)
    {
        var peft = PeftModel.FromPretrained(CausalLmSetup.LoadDecoder(BaseDirectory), directory);
        var score = Evaluate(peft)[WordAccuracy];
        peft.Model.Dispose();
        return score;
    }
}
