using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Methods.Lora;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The g2p task of the quality protocol on the bundled decoder, trained for a few steps on a slice of g2p.</summary>
public sealed class G2pQualityTaskTests : IDisposable
{
    private const int TestWords = 6;
    private readonly string _temp = Directory.CreateTempSubdirectory("peft-g2pq-").FullName;

    private static string Decoder => Path.Combine(BundledDemoTests.Repository(), "models", "decoder");

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void TheSameSeedReproducesARunExactlyAndAnotherSeedChangesIt()
    {
        var task = Task();
        var first = Run(task, "lora", 1, "a");
        var again = Run(task, "lora", 1, "b");
        var other = Run(task, "lora", 2, "c");

        Assert.Equal(first.Score, again.Score);
        Assert.Equal(first.Metrics, again.Metrics);
        Assert.Equal(Losses("a"), Losses("b"));
        Assert.Equal(File.ReadAllBytes(Adapter("a")), File.ReadAllBytes(Adapter("b")));
        // Another seed draws another initialisation, batch order and dropout: other losses from the first step, other weights.
        Assert.NotEqual(Losses("a")[0], Losses("c")[0]);
        Assert.NotEqual(File.ReadAllBytes(Adapter("a")), File.ReadAllBytes(Adapter("c")));
        Assert.Equal(2, other.Seed);

        // Parameters and ranks against the decoder's shapes: every projection of every layer at rank 2.
        var (hidden, inner, heads, kv, headDim) = (Get("hidden_size"), Get("intermediate_size"), Get("num_attention_heads"), Get("num_key_value_heads"), Get("head_dim"));
        var perLayer = (hidden + heads * headDim) * 2 + (hidden + kv * headDim) * 2 + (hidden + inner) * 3;
        Assert.Equal(2L * perLayer * Get("num_hidden_layers"), first.AdapterParameters);
        Assert.Equal(first.AdapterParameters, first.PublishedParameters);
        Assert.Equal(2 * 7 * Get("num_hidden_layers"), first.TotalRank);
        Assert.True(first.Seconds > 0);
        Assert.Equal(("decoder/g2p", "lora r=2", "lora"), (first.Task, first.Configuration, first.Method));

        // The score is the word accuracy in points of the published adapter's greedy generations.
        var peft = PeftModel.FromPretrained(CausalLmSetup.LoadDecoder(Decoder), Path.Combine(_temp, "a", "final"));
        var test = GenerationExample.ReadJsonLines(Path.Combine(_temp, "g2p", "test.jsonl")).Take(TestWords).ToList();
        var samples = new GenerativeEvaluator(PromptEncoder.Load(Decoder)).Generate((DecoderForCausalLM)peft.Model, test);
        Assert.Equal(100.0 * samples.Count(s => s.Generated == s.Reference) / TestWords, first.Score, 9);
        Assert.Equal(first.Score, first.Metrics[G2pQualityTask.WordAccuracy]);
        Assert.Equal(100 * GenerationMetrics.G2p.Single(m => m.Name == GenerationMetrics.PhonemeErrorRate).Compute(samples), first.Metrics[G2pQualityTask.PhonemeErrorRate], 9);
        Assert.Empty(first.ScoresAtBudget);
        Assert.Empty(first.ScoresAtRank);
    }

    [Fact]
    public void ExtrasScoreCutsOfThePublishedAdapterAndTheWholeCutScoresAsTheAdapter()
    {
        var task = Task();
        var lora = Run(task, "lora", 3, "lora", new QualityExtras([0.5, 1.0], []));
        Assert.Equal([0.5, 1.0], lora.ScoresAtBudget.Keys);
        Assert.Equal(lora.Score, lora.ScoresAtBudget[1.0]);
        Assert.InRange(lora.ScoresAtBudget[0.5], 0, 100);

        var dylora = Run(task, "dylora r_max=8", 3, "dylora", new QualityExtras([], [1, 8]));
        Assert.Equal([1, 8], dylora.ScoresAtRank.Keys);
        Assert.Equal(dylora.Score, dylora.ScoresAtRank[8]);
        Assert.InRange(dylora.ScoresAtRank[1], 0, 100);
        Assert.Equal(8 * 7 * Get("num_hidden_layers"), dylora.TotalRank);
    }

    [Fact]
    public void ABudgetCutKeepsTheAllocatedComponentsAndFractionsOutsideTheUnitIntervalAreRefused()
    {
        manual_seed(4);
        var peft = PeftModel.Create(new Mlp(8, 16, 3), new LoraConfig { R = 4, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        using (no_grad())
        {
            foreach (var m in peft.AdaptedModules)
            {
                ((LoraPath)m.Layer.GetPath("default")).B.normal_();
            }
        }

        // Whole: 4 × (8 + 16) + 4 × (16 + 16) = 224 parameters; half holds 112.
        Assert.Equal(224, RankBudget.Parameters(peft, peft.GetEffectiveRanks()));
        var expected = RankBudget.Allocate(peft, 112);
        var cuts = RankCuts.ScoreBudgets(peft, [0.5, 1.0], (fraction, cut) => (fraction, File.ReadAllText(Path.Combine(cut, "adapter_config.json"))));
        Assert.Equal([0.5, 1.0], cuts.Select(c => c.fraction));
        var half = JsonNode.Parse(cuts[0].Item2)!;
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal) { ["fc1"] = 0, ["fc2"] = 0 };
        foreach (var name in half["target_modules"]!.AsArray().Select(n => n!.GetValue<string>()))
        {
            ranks[name] = half["rank_pattern"]?[name]?.GetValue<int>() ?? half["r"]!.GetValue<int>();
        }

        Assert.Equal(expected, ranks);
        Assert.InRange(RankBudget.Parameters(peft, ranks), 1, 112);
        Assert.Equal(4, JsonNode.Parse(cuts[1].Item2)!["r"]!.GetValue<int>());
        Assert.Throws<ArgumentOutOfRangeException>(() => RankCuts.ScoreBudgets(peft, [0.0], (_, _) => 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankCuts.ScoreBudgets(peft, [1.5], (_, _) => 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankCuts.ScoreBudgets(peft, [double.NaN], (_, _) => 0));
    }

    /// <summary>The task on the first 32 training and <see cref="TestWords"/> test records of the bundled g2p, 3 steps of 4.</summary>
    private G2pQualityTask Task()
    {
        var source = Path.Combine(BundledDemoTests.Repository(), "data", "g2p");
        var data = Directory.CreateDirectory(Path.Combine(_temp, "g2p")).FullName;
        File.WriteAllLines(Path.Combine(data, "train.jsonl"), File.ReadLines(Path.Combine(source, "train.jsonl")).Take(32));
        File.WriteAllLines(Path.Combine(data, "test.jsonl"), File.ReadLines(Path.Combine(source, "test.jsonl")).Take(TestWords + 2));
        return new G2pQualityTask(Decoder, data, new GenerativeDemoOptions { Steps = 3, BatchSize = 4, EvalLimit = TestWords, SampleCount = 0 });
    }

    // LoRA's quality variant trains at the rank the settings give: rank 2 here, named as the protocol names it.
    private QualityRun Run(G2pQualityTask task, string variant, int seed, string folder, QualityExtras? extras = null)
    {
        var (method, found) = MethodStepBench.Variants(BenchmarkKind.Quality).Single(v => v.Variant.Name == variant);
        var rank = variant == "lora" ? 2 : 8;
        var configuration = variant == "lora" ? $"lora r={rank}" : variant;
        return task.Run(configuration, method.Name, found.Create(task.Settings(rank)), seed, Path.Combine(_temp, folder), extras ?? QualityExtras.None);
    }

    private static int Get(string key) => JsonNode.Parse(File.ReadAllText(Path.Combine(Decoder, "config.json")))![key]!.GetValue<int>();

    private string Adapter(string folder) => Path.Combine(_temp, folder, "final", "adapter_model.safetensors");

    private List<double> Losses(string folder) =>
        [.. File.ReadLines(Path.Combine(_temp, folder, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).Select(n => n["loss"]!.GetValue<double>())];
}
