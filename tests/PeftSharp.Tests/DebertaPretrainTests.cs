using PeftSharp.Models;
using PeftSharp.Training;
using Xunit;

namespace PeftSharp.Tests;

/// <summary><c>peft pretrain --arch deberta</c>: a DeBERTa-v3 style masked-LM base that <c>peft train</c> fine-tunes.</summary>
public sealed class DebertaPretrainTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peftsharp-debpre-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void ADebertaPretrainLowersTheLossAndWritesADebertaV2MaskedLM()
    {
        var losses = new List<double>();
        var output = Path.Combine(_temp, "lib");
        var options = new PretrainOptions
        {
            Architecture = MaskedLMArchitecture.Deberta, VocabularySize = 300, Layers = 1, Hidden = 64, Heads = 2,
            SequenceLength = 32, BatchSize = 8, Steps = 20, LearningRate = 2e-3, Seed = 3,
        };
        var final = MaskedLMPretrainer.Run(Texts(64), output, options, TextWriter.Null, new SyncProgress(p => losses.Add(p.Loss)));

        Assert.Equal(20, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l), $"loss {l}"));
        Assert.True(double.IsFinite(final));
        Assert.True(losses.TakeLast(5).Average() < losses.Take(3).Average(), string.Join(", ", losses));

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!;
        Assert.Equal("DebertaV2ForMaskedLM", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("deberta-v2", config["model_type"]!.GetValue<string>());
        Assert.True(config["relative_attention"]!.GetValue<bool>());
        Assert.False(config["position_biased_input"]!.GetValue<bool>());
        Assert.True(config["share_att_key"]!.GetValue<bool>());
        Assert.Equal(0, config["type_vocab_size"]!.GetValue<int>());
        Assert.Equal("layer_norm", config["norm_rel_ebd"]!.GetValue<string>());
        Assert.Equal(16, config["position_buckets"]!.GetValue<int>());

        var loaded = Assert.IsType<DebertaV2ForMaskedLM>(PretrainedModel.FromPretrained(output));
        var deberta = (DebertaV2Config)loaded.Config;
        Assert.Equal(["p2c", "c2p"], deberta.PosAttType);
        Assert.True(deberta.NormRelativeEmbeddings);
        Assert.DoesNotContain(loaded.named_parameters(), p => p.name.Contains("position_embeddings", StringComparison.Ordinal) || p.name.Contains("token_type", StringComparison.Ordinal));
        var tokenizer = TextTokenizer.TryLoad(output);
        Assert.NotNull(tokenizer);
        Assert.Equal(config["vocab_size"]!.GetValue<int>(), tokenizer.VocabularySize);
    }

    [Fact]
    public void PeftPretrainArchDebertaWritesABaseThatPeftTrainFineTunes()
    {
        var corpus = Path.Combine(_temp, "corpus.txt");
        File.WriteAllLines(corpus, Texts(64));
        var model = Path.Combine(_temp, "deberta");
        var (code, output, error) = Cli.Peft("pretrain", "--arch", "deberta", "--corpus", corpus, "--output", model, "--steps", "3", "--batch-size", "4", "--vocab-size", "300", "--layers", "1", "--hidden", "64");
        Assert.True(code == 0, output + error);
        Assert.IsType<DebertaV2ForMaskedLM>(PretrainedModel.FromPretrained(model));
        Assert.True(File.Exists(Path.Combine(model, "vocab.txt")));
        Assert.True(File.Exists(Path.Combine(model, "tokenizer_config.json")));

        var task = Cli.WriteTask(Path.Combine(_temp, "task"), ("train", 24), ("validation", 8), ("test", 8));
        var run = Path.Combine(_temp, "run");
        (code, output, error) = Cli.Peft("train", "--base", model, "--data", task, "--method", "lora", "--steps", "3", "--eval-every", "3", "--batch-size", "4", "--output", run);
        Assert.True(code == 0, output + error);
        Assert.True(Directory.Exists(Path.Combine(run, "best")), output);
    }

    [Fact]
    public void AnUnknownPretrainArchIsAOneLineErrorNamingTheOption()
    {
        var (code, _, error) = Cli.Peft("pretrain", "--arch", "gpt9", "--corpus", Path.Combine(_temp, "corpus.txt"), "--output", Path.Combine(_temp, "never"));
        Assert.Equal(1, code);
        var line = Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("--arch", line);
        Assert.Contains("gpt9", line);
        Assert.Contains("deberta", line);
        Assert.False(Directory.Exists(Path.Combine(_temp, "never")));
    }

    [Theory]
    [InlineData("bert", typeof(BertForMaskedLM))]
    [InlineData("DeBERTa", typeof(DebertaV2ForMaskedLM))]
    public void EachPretrainArchitectureBuildsItsMaskedLM(string name, Type expected)
    {
        var architecture = MaskedLMArchitecture.Find(name);
        Assert.NotNull(architecture);
        using var model = architecture.Create(new MaskedLMShape(50, 32, 1, 2, 16));
        Assert.IsType(expected, model);
        Assert.Equal(ModelTask.MaskedLanguageModeling, model.Task);
        Assert.Null(MaskedLMArchitecture.Find("gpt9"));
    }

    private static List<string> Texts(int count) =>
        File.ReadLines(Path.Combine(BundledDemoTests.Repository(), "data", "sotu-era", "train.jsonl")).Take(count)
            .Select(l => JsonNode.Parse(l)!["text"]!.GetValue<string>()).ToList();

    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
