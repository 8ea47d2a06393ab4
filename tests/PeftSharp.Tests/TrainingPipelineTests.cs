using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Training;
using PeftSharp.Training.Baseline;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>A LoRA adapter whose controller poisons the loss at a chosen step (tests the NaN guard and the hook calls).</summary>
internal sealed class PoisonConfig : AdapterConfig
{
    public override AdapterMethod Method => PoisonMethod.Instance;

    public int PoisonStep { get; init; } = 3;

    public List<string> Calls { get; } = [];
}

internal sealed class PoisonMethod : AdapterMethod<PoisonConfig>
{
    private PoisonMethod()
        : base("test_poison", "TEST_POISON")
    {
    }

    public static PoisonMethod Instance { get; } = new();

    protected override LowRankPath CreatePath(PoisonConfig config, string moduleName, LinearTarget target, AdapterBuildContext context) =>
        new LoraPath(target.InFeatures, target.OutFeatures, 2, 4);

    protected override TrainingController? CreateController(PoisonConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) => new PoisonController(config);

    private sealed class PoisonController(PoisonConfig config) : TrainingController
    {
        public override void OnStepBegin(long step) => config.Calls.Add($"begin {step}");

        public override Tensor? ExtraLoss(long step)
        {
            config.Calls.Add($"extra {step}");
            return step == config.PoisonStep ? tensor(float.NaN) : null;
        }

        public override void OnAfterBackward(long step) => config.Calls.Add($"backward {step}");

        public override void OnAfterOptimizerStep(long step) => config.Calls.Add($"optimizer {step}");

        public override void OnEvaluationBegin() => config.Calls.Add("eval begin");

        public override void OnEvaluationEnd() => config.Calls.Add("eval end");

        public override void OnTrainingEnd() => config.Calls.Add("end");
    }
}

public sealed partial class TrainingPipelineTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-train-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string Dir(string name) => Path.Combine(_temp.FullName, name);

    /// <summary>A learnable toy task: the label is whether the text mentions a fruit or a tool.</summary>
    private string ToyTask()
    {
        var dir = Dir("task");
        Directory.CreateDirectory(dir);
        var random = new Random(3);
        string[] fruit = ["apple", "pear", "plum", "grape", "melon"], tools = ["hammer", "saw", "drill", "wrench", "chisel"], filler = ["the", "a", "big", "small", "red", "old", "new", "my", "your", "this"];
        foreach (var (split, count) in new[] { ("train", 160), ("validation", 40), ("test", 40) })
        {
            var lines = Enumerable.Range(0, count).Select(_ =>
            {
                var isFruit = random.Next(2) == 0;
                var words = Enumerable.Range(0, 5).Select(_ => filler[random.Next(filler.Length)]).ToList();
                words.Insert(random.Next(words.Count), (isFruit ? fruit : tools)[random.Next(5)]);
                return new JsonObject { ["text"] = string.Join(' ', words), ["label"] = isFruit ? "fruit" : "tool" }.ToJsonString();
            });
            File.WriteAllLines(Path.Combine(dir, $"{split}.jsonl"), lines);
        }

        return dir;
    }

    /// <summary>A tiny random BERT masked-LM with a vocabulary of the toy task's words.</summary>
    private string TinyBase(string task)
    {
        var dir = Dir("base");
        Directory.CreateDirectory(dir);
        var texts = File.ReadLines(Path.Combine(task, "train.jsonl")).Select(l => JsonNode.Parse(l)!["text"]!.GetValue<string>()).ToList();
        File.WriteAllText(Path.Combine(dir, "vocab.txt"), WordPieceTrainer.ToVocabText(WordPieceTrainer.Train(texts, 200)));
        manual_seed(5);
        var config = BertConfig.Read(new ConfigJson(new JsonObject
        {
            ["architectures"] = new JsonArray("BertForMaskedLM"), ["model_type"] = "bert", ["vocab_size"] = 200, ["hidden_size"] = 32,
            ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2, ["intermediate_size"] = 64, ["max_position_embeddings"] = 32, ["pad_token_id"] = 0,
        }, "tiny"));
        new BertForMaskedLM(config).SavePretrained(dir);
        return dir;
    }

    private static TrainerOptions Options(string? output, int steps = 30, int evalEvery = 10) => new()
    {
        MaxSteps = steps,
        BatchSize = 16,
        LearningRate = 5e-3,
        EvalEvery = evalEvery,
        MaxLength = 16,
        Seed = 1,
        OutputDirectory = output,
        LogEvery = 0,
    };

    private static (PretrainedModel Model, PeftModel Peft, TextTokenizer Tokenizer, ClassificationDataset Train, ClassificationDataset Validation) Setup(string baseDir, string task, AdapterConfig? config = null)
    {
        var train = ClassificationDataset.Load(Path.Combine(task, "train.jsonl"));
        var validation = ClassificationDataset.Load(Path.Combine(task, "validation.jsonl"), labels: train.Labels);
        manual_seed(7);
        var model = PretrainedModel.ForSequenceClassification(baseDir, train.Labels, out _);
        var peft = PeftModel.Create(model, config ?? new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = TargetModules.FromNames("query", "value"), ModulesToSave = ["classifier", "pooler"] });
        return (model, peft, TextTokenizer.TryLoad(baseDir)!, train, validation);
    }

    /// <summary>
    /// Trains 20 steps uninterrupted, and 10 + 10 with a resume from the step-10 checkpoint; asserts
    /// the two runs' losses agree at every step. Returns both adapted models.
    /// </summary>
    private (PeftModel Uninterrupted, PeftModel Resumed) AssertResumeReproduces(string baseDir, string task, Func<AdapterConfig> config, string name)
    {
        var full = Setup(baseDir, task, config());
        var uninterrupted = new Trainer(full.Model, full.Peft, full.Tokenizer, Options(Dir($"{name}-full"), steps: 20, evalEvery: 10)).Train(full.Train, full.Validation);
        var first = Setup(baseDir, task, config());
        new Trainer(first.Model, first.Peft, first.Tokenizer, Options(Dir($"{name}-split"), steps: 20, evalEvery: 10) with { StopAfterSteps = 10 }).Train(first.Train, first.Validation);
        var second = Setup(baseDir, task, config());
        var resumed = new Trainer(second.Model, second.Peft, second.Tokenizer, Options(Dir($"{name}-split"), steps: 20, evalEvery: 10)).Train(second.Train, second.Validation, resume: true);
        for (var i = 0; i < 20; i++)
        {
            Assert.True(Math.Abs(resumed.Losses[i] - uninterrupted.Losses[i]) <= 1e-5 * Math.Max(1, Math.Abs(uninterrupted.Losses[i])), $"step {i + 1}: resumed {resumed.Losses[i]} vs {uninterrupted.Losses[i]}");
        }

        return (full.Peft, second.Peft);
    }

    [Fact]
    public void AShortRunLowersTheValidationLossAndWritesMetrics()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task);
        var trainer = new Trainer(model, peft, tokenizer, Options(Dir("run"), steps: 60, evalEvery: 20));
        var before = trainer.Evaluate(validation);
        var result = trainer.Train(train, validation);
        Assert.Equal(60, result.Steps);
        Assert.Equal(3, result.Evaluations.Count);
        Assert.True(result.Evaluations[^1].Loss < before.Loss, $"validation loss {before.Loss} → {result.Evaluations[^1].Loss}");
        Assert.True(result.Best!.Accuracy >= 0.8, $"best accuracy {result.Best.Accuracy}");
        var ranks = Assert.Single(File.ReadAllLines(Path.Combine(Dir("run"), "ranks.jsonl")));
        Assert.Contains("\"step\":0", ranks);
        Assert.True(File.Exists(Path.Combine(Dir("run"), "best", "adapter_model.safetensors")));
        var metrics = File.ReadAllLines(Path.Combine(Dir("run"), "metrics.jsonl"));
        Assert.Equal(60 + 3, metrics.Length);
        Assert.Contains("\"accuracy\"", metrics[^1]);
    }

    [Fact]
    public void AResumedRunReproducesTheUninterruptedLosses()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task);
        var full = new Trainer(model, peft, tokenizer, Options(Dir("full"), steps: 20, evalEvery: 10)).Train(train, validation);

        var first = Setup(baseDir, task);
        var interrupted = new Trainer(first.Model, first.Peft, first.Tokenizer, Options(Dir("split"), steps: 20, evalEvery: 10) with { StopAfterSteps = 10 }).Train(first.Train, first.Validation);
        Assert.Equal(10, interrupted.Steps);
        var second = Setup(baseDir, task);
        var resumed = new Trainer(second.Model, second.Peft, second.Tokenizer, Options(Dir("split"), steps: 20, evalEvery: 10)).Train(second.Train, second.Validation, resume: true);

        Assert.Equal(20, resumed.Losses.Count);
        for (var i = 0; i < 20; i++)
        {
            Assert.True(Math.Abs(resumed.Losses[i] - full.Losses[i]) <= 1e-5 * Math.Max(1, Math.Abs(full.Losses[i])), $"step {i + 1}: resumed {resumed.Losses[i]} vs uninterrupted {full.Losses[i]}");
        }

        Assert.Equal(full.Evaluations[^1].Accuracy, resumed.Evaluations[^1].Accuracy);
    }

    [Fact]
    public void AResumedAdaLoraRunReproducesTheUninterruptedOne()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        PeftSharp.Methods.AdaLora.AdaLoraConfig Config() => new()
        {
            InitR = 4, TargetR = 2, TInit = 2, TFinal = 4, DeltaT = 2, TotalStep = 20, LoraAlpha = 8,
            TargetModules = TargetModules.FromNames("query", "value"), ModulesToSave = ["classifier", "pooler"],
        };
        var (_, second) = AssertResumeReproduces(baseDir, task, Config, "ada");
        var kept = second.AdaptedModules.Sum(m => ((PeftSharp.Methods.AdaLora.AdaLoraPath)m.Layer.GetPath("default")).E.ne(0).sum().item<long>());
        Assert.Equal(2 * 4, kept);
    }

    [Fact]
    public void SoraGatesLeaveTheMainOptimizerAndAResumedRunReproducesTheUninterruptedOne()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        PeftSharp.Methods.Sora.SoraConfig Config() => new()
        {
            R = 4, LoraAlpha = 8, SparseLambda = 1, SparseLambda2 = 5e-3, GateLearningRate = 2e-2,
            LambdaSchedule = PeftSharp.Methods.Sora.SoraLambdaSchedule.Linear, MaxLambda = 2e-2, LambdaNum = 4, LambdaStageSteps = 5,
            TargetModules = TargetModules.FromNames("query", "value"), ModulesToSave = ["classifier", "pooler"],
        };

        // With the trainer's rate at 0 only the gate optimizer moves anything.
        var frozen = Setup(baseDir, task, Config());
        var path = (PeftSharp.Methods.Sora.SoraPath)frozen.Peft.AdaptedModules[0].Layer.GetPath("default");
        var (a0, g0) = (path.A.detach().clone(), path.Gate.detach().clone());
        new Trainer(frozen.Model, frozen.Peft, frozen.Tokenizer, Options(null, steps: 3, evalEvery: 0) with { LearningRate = 0, WarmupRatio = 0, Schedule = LearningRateSchedule.Constant }).Train(frozen.Train, null);
        Assert.True(path.A.equal(a0).all().item<bool>(), "A must not move at lr 0");
        Assert.False(path.Gate.equal(g0).all().item<bool>(), "the gate optimizer must step the gates");

        var (full, second) = AssertResumeReproduces(baseDir, task, Config, "sora");
        Assert.Equal(2e-2, ((PeftSharp.Methods.Sora.SoraController)second.GetController()!).GateOptimizer.Lambda, 12);
        for (var m = 0; m < second.AdaptedModules.Count; m++)
        {
            TestUtil.AssertClose(((PeftSharp.Methods.Sora.SoraPath)second.AdaptedModules[m].Layer.GetPath("default")).Gate.detach(), ((PeftSharp.Methods.Sora.SoraPath)full.AdaptedModules[m].Layer.GetPath("default")).Gate.detach(), 1e-5, 1e-6);
        }

        var ranks = File.ReadAllLines(Path.Combine(Dir("sora-full"), "ranks.jsonl"));
        Assert.StartsWith("{\"step\":0,\"ranks\":{", ranks[0]);
        Assert.Contains("\"bert.encoder.layer.0.attention.self.query\":4", ranks[0]);
    }

    [Fact]
    public void ANonFiniteLossStopsTheRunNamingTheStepAndHooksRunInOrder()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var config = new PoisonConfig { TargetModules = TargetModules.FromNames("query"), ModulesToSave = ["classifier"], PoisonStep = 3 };
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task, config);
        var error = Assert.Throws<NonFiniteTrainingException>(() => new Trainer(model, peft, tokenizer, Options(Dir("nan"), steps: 10, evalEvery: 2)).Train(train, validation));
        Assert.Contains("step 4", error.Message);
        Assert.Equal(["begin 0", "extra 0", "backward 0", "optimizer 0", "begin 1", "extra 1", "backward 1", "optimizer 1", "eval begin", "eval end"], config.Calls.Take(10));
        Assert.True(File.Exists(Path.Combine(Dir("nan"), "checkpoint", "trainer_state.json")), "the checkpoint of step 2 must survive");
        Assert.Equal(2, ConfigJson.Load(Path.Combine(Dir("nan"), "checkpoint", "trainer_state.json")).Int("step", 0));
    }

    [Fact]
    public void WithAccumulationAndClippingEveryHookStillRunsOncePerOptimizerStep()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var config = new PoisonConfig { TargetModules = TargetModules.FromNames("query"), ModulesToSave = ["classifier"], PoisonStep = -1 };
        var (model, peft, tokenizer, train, _) = Setup(baseDir, task, config);
        new Trainer(model, peft, tokenizer, Options(null, steps: 3, evalEvery: 0) with { GradientAccumulation = 3, MaxGradNorm = 0.1 }).Train(train, null);
        Assert.Equal(["begin 0", "extra 0", "backward 0", "optimizer 0", "begin 1", "extra 1", "backward 1", "optimizer 1", "begin 2", "extra 2", "backward 2", "optimizer 2", "end"], config.Calls);
    }

    [Fact]
    public void ParameterGroupsGetTheirOwnLearningRates()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task);
        var lora = peft.AdaptedModules.Select(m => ((LoraPath)m.Layer.GetPath("default")).A.detach().clone()).ToList();
        var head = peft.SavedModules.First(s => s.Name == "classifier").Wrapper.GetCopy("default").parameters().First().detach().clone();
        var options = Options(null, steps: 5, evalEvery: 100) with { GroupLearningRates = new Dictionary<string, double> { ["adapter"] = 0.0 }, GroupWeightDecays = new Dictionary<string, double> { ["adapter"] = 0.0 } };
        new Trainer(model, peft, tokenizer, options).Train(train, validation);
        for (var i = 0; i < lora.Count; i++)
        {
            Assert.True(TestUtil.Identical(((LoraPath)peft.AdaptedModules[i].Layer.GetPath("default")).A, lora[i]), "an adapter group with lr 0 must not move");
        }

        Assert.False(TestUtil.Identical(peft.SavedModules.First(s => s.Name == "classifier").Wrapper.GetCopy("default").parameters().First(), head));
    }

    [Fact]
    public void MetricsMatchHandComputedValues()
    {
        int[] actual = [0, 0, 1, 1, 1, 2], predicted = [0, 1, 1, 1, 0, 2];
        Assert.Equal(4 / 6.0, Metrics.Accuracy(predicted, actual), 12);
        // per-class F1: class 0: tp1 fp1 fn1 → 0.5; class 1: tp2 fp1 fn1 → 2/3; class 2: 1.
        Assert.Equal((0.5 + 2 / 3.0 + 1) / 3, Metrics.MacroF1(predicted, actual), 12);
        int[] binaryActual = [1, 1, 1, 0, 0, 0, 0, 1], binaryPredicted = [1, 1, 0, 0, 0, 1, 0, 1];
        double tp = 3, tn = 3, fp = 1, fn = 1;
        var classic = (tp * tn - fp * fn) / Math.Sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
        Assert.Equal(classic, Metrics.Mcc(binaryPredicted, binaryActual), 12);
        Assert.Equal(0, Metrics.Mcc([1, 1, 1], [0, 1, 0]), 12);
    }

    [Fact]
    public void DatasetsLoadFromJsonlAndCsvWithPreciseErrors()
    {
        File.WriteAllText(Dir("ok.csv"), "id,text,label\n1,\"hello, world\",a\n2,\"say \"\"hi\"\"\",b\n");
        var csv = ClassificationDataset.Load(Dir("ok.csv"));
        Assert.Equal(["a", "b"], csv.Labels);
        Assert.Equal("say \"hi\"", csv.Examples[1].Text);
        Assert.Equal(1, csv.Examples[1].Label);

        File.WriteAllText(Dir("bad.jsonl"), "{\"text\":\"x\",\"label\":\"a\"}\n{\"label\":\"b\"}\n");
        var missing = Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Load(Dir("bad.jsonl")));
        Assert.Contains("bad.jsonl:2", missing.Message);
        Assert.Equal("text", missing.Field);

        File.WriteAllText(Dir("empty.jsonl"), "\n\n");
        Assert.Contains("no records", Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Load(Dir("empty.jsonl"))).Message);

        File.WriteAllText(Dir("eval.jsonl"), "{\"text\":\"x\",\"label\":\"c\"}\n");
        var unknown = Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Load(Dir("eval.jsonl"), labels: ["a", "b"]));
        Assert.Contains("label 'c' is not one of the training labels", unknown.Message);

        File.WriteAllText(Dir("open.csv"), "text,label\n\"never closed,a\n");
        Assert.Contains("never closed", Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Load(Dir("open.csv"))).Message);
        File.WriteAllText(Dir("nolabel.csv"), "text,kind\nx,a\n");
        Assert.Equal("label", Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Load(Dir("nolabel.csv"))).Field);
    }

    [Fact]
    public void WordPieceTrainerCoversTheCorpus()
    {
        var vocab = WordPieceTrainer.Train(["The whale! The whales.", "Call me Ishmael."], 64);
        Assert.Equal(WordPieceTrainer.SpecialTokens, vocab.Take(5));
        Assert.Contains("the", vocab);
        Assert.Contains("##s", vocab);
        Assert.Equal(vocab.Count, vocab.Distinct().Count());
        Assert.Equal(vocab, WordPieceTrainer.Train(["The whale! The whales.", "Call me Ishmael."], 64));
    }
}

public sealed class BundledDemoTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-demo-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>The repository root (the folder holding models/base and data/).</summary>
    internal static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "models", "base")) && Directory.Exists(Path.Combine(dir.FullName, "data", "sotu-era")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("models/base and data/ not found above the test folder");
    }

    [Fact]
    public void TheDemoRunsEndToEndOnATruncatedSetting()
    {
        var root = Repository();
        var options = new TrainerOptions { MaxSteps = 6, BatchSize = 8, LearningRate = 1e-3, EvalEvery = 3, MaxLength = 64, LogEvery = 0 };
        var all = DemoRunner.Run(Path.Combine(root, "models", "base"), Path.Combine(root, "data", "sotu-era"), _temp.FullName, options, TextWriter.Null, trainLimit: 48, evalLimit: 16);

        // The first row is the TF-IDF + logistic-regression baseline on the same truncated splits.
        var data = Path.Combine(root, "data", "sotu-era");
        var train = ClassificationDataset.Load(Path.Combine(data, "train.jsonl")).Take(48);
        var baseline = TfIdfBaseline.Fit(train, ClassificationDataset.Load(Path.Combine(data, "validation.jsonl"), labels: train.Labels).Take(16), ClassificationDataset.Load(Path.Combine(data, "test.jsonl"), labels: train.Labels).Take(16));
        Assert.True(all[0].IsBaseline);
        Assert.Equal((DemoRunner.BaselineName, baseline.TestAccuracy, baseline.TestMacroF1), (all[0].Method, all[0].Value, all[0].MacroF1));
        var table = DemoRunner.Table(all).Split('\n');
        Assert.StartsWith(string.Create(CultureInfo.InvariantCulture, $"| tf-idf + logistic regression | accuracy {baseline.TestAccuracy:F4} | {baseline.TestMacroF1:F4} | – | – | – |"), table[2]);
        Assert.StartsWith("| lora |", table[3]);
        Assert.Null(DemoRunner.ToJson(all)[0]!["trainable_params"]);

        var rows = all.Skip(1).ToList();
        Assert.Equal(AdapterMethodRegistry.All.Select(m => m.Name), rows.Select(r => r.Method));
        foreach (var row in rows)
        {
            Assert.Equal(6, row.Losses.Count);
            Assert.InRange(row.Value, 0, 1);
            Assert.Equal(8, row.Ranks.Count);
            Assert.True(row.TrainableParams > 0);
        }

        Assert.All(rows, r => Assert.True(File.Exists(Path.Combine(r.OutputDirectory!, "metrics.jsonl"))));
        Assert.All(rows, r => Assert.InRange(r.AdapterParams, 1, r.TrainableParams));
        var json = DemoRunner.ToJson(rows)[0]!.AsObject();
        Assert.Equal(["method", "metric", "value", "trainable_params", "adapter_params", "ranks", "seconds_per_step"], json.Select(p => p.Key));
    }

    [Fact]
    public void TheBundledBaseLoadsAsAClassifierAndItsTokenizerWorks()
    {
        var root = Repository();
        var model = PretrainedModel.ForSequenceClassification(Path.Combine(root, "models", "base"), ["a", "b"], out var report);
        Assert.All(report.Missing, m => Assert.True(m.StartsWith("classifier.", StringComparison.Ordinal) || m.Contains(".pooler.", StringComparison.Ordinal), m));
        var tokenizer = TextTokenizer.TryLoad(Path.Combine(root, "models", "base"))!;
        var ids = tokenizer.Encode("Call me Ishmael.").InputIds;
        Assert.Equal("call me ishmael.", tokenizer.Decode(ids));
        using var noGrad = no_grad();
        Assert.Equal([1L, 2L], model.Forward(tensor(ids).unsqueeze(0)).shape);
    }
}
