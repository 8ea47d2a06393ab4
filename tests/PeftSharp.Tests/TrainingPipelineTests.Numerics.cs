using PeftSharp.Adapters;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sora;
using PeftSharp.Training;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>A LoRA adapter whose extra loss is finite (0) but whose gradient is NaN from a chosen step (√|B| at B = 0).</summary>
internal sealed class GradientPoisonConfig : AdapterConfig
{
    public override AdapterMethod Method => GradientPoisonMethod.Instance;

    public int PoisonStep { get; init; } = 2;
}

internal sealed class GradientPoisonMethod : AdapterMethod<GradientPoisonConfig>
{
    private GradientPoisonMethod()
        : base("test_gradient_poison", "TEST_GRADIENT_POISON")
    {
    }

    public static GradientPoisonMethod Instance { get; } = new();

    protected override LowRankPath CreatePath(GradientPoisonConfig config, string moduleName, LinearTarget target, AdapterBuildContext context) =>
        new LoraPath(target.InFeatures, target.OutFeatures, 2, 4);

    protected override TrainingController? CreateController(GradientPoisonConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules) =>
        new Controller(config, (LoraPath)modules[0].Layer.GetPath(adapterName));

    private sealed class Controller(GradientPoisonConfig config, LoraPath path) : TrainingController
    {
        public override Tensor? ExtraLoss(long step) => step == config.PoisonStep ? (zeros_like(path.B) * path.B).abs().sqrt().sum() : null;
    }
}

/// <summary>Numerical hazards: each gives a typed error or a defined, documented behaviour (docs/reliability.md).</summary>
public sealed partial class TrainingPipelineTests
{
    [Fact]
    public void ANonFiniteGradientWithAFiniteLossStopsTheRunNamingTheParameter()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task, new GradientPoisonConfig { TargetModules = TargetModules.FromNames("query"), ModulesToSave = ["classifier"], PoisonStep = 2 });
        var error = Assert.Throws<NonFiniteTrainingException>(() => new Trainer(model, peft, tokenizer, Options(Dir("nan-grad"), steps: 10, evalEvery: 2)).Train(train, validation));
        Assert.Contains("step 3", error.Message);
        Assert.Contains("the gradient of", error.Message);
        Assert.Contains("lora_B", error.Message);
        Assert.Equal(2, ConfigJson.Load(Path.Combine(Dir("nan-grad"), "checkpoint", "trainer_state.json")).Int("step", 0));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-1e-3)]
    public void LearningRatesThatAreNotFiniteAndNonNegativeAreRefusedBeforeTraining(double rate)
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task);
        var error = Assert.Throws<PeftConfigurationException>(() => new Trainer(model, peft, tokenizer, Options(Dir("bad-lr"), steps: 4) with { LearningRate = rate }).Train(train, validation));
        Assert.Contains("LearningRate must be a finite number ≥ 0", error.Message);
        Assert.False(Directory.Exists(Dir("bad-lr")), "nothing is written for a refused run");
    }

    [Fact]
    public void AnExplodingLearningRateStopsTheRunBeforeAnyNonFiniteParameterIsSaved()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task);
        var options = Options(Dir("explode"), steps: 30, evalEvery: 1) with { LearningRate = 1e30, Schedule = LearningRateSchedule.Constant, WarmupRatio = 0, MaxGradNorm = 0 };
        var error = Assert.Throws<NonFiniteTrainingException>(() => new Trainer(model, peft, tokenizer, options).Train(train, validation));
        Assert.Matches("step [0-9]+: ", error.Message);
        Assert.Contains("training stopped", error.Message);
        foreach (var directory in new[] { "checkpoint", "best" }.Select(d => Path.Combine(Dir("explode"), d)).Where(Directory.Exists))
        {
            foreach (var (name, tensor) in SafetensorsFile.ReadAll(Path.Combine(directory, "adapter_model.safetensors")))
            {
                using (tensor)
                {
                    Assert.True(isfinite(tensor).all().item<bool>(), $"{directory}: {name} is not finite");
                }
            }
        }
    }

    [Fact]
    public void WhenSoraPrunesEveryRankTheAdapterAddsNothingAndTheCompactExportIsRefused()
    {
        var task = ToyTask();
        var baseDir = TinyBase(task);
        var config = new SoraConfig { R = 4, SparseLambda2 = 10, TargetModules = TargetModules.FromNames("query", "value") };
        var (model, peft, tokenizer, train, validation) = Setup(baseDir, task, config);
        var log = new StringWriter();
        var result = new Trainer(model, peft, tokenizer, Options(Dir("sora-zero"), steps: 6, evalEvery: 3), log).Train(train, validation);
        Assert.Equal(6, result.Steps);
        Assert.All(peft.GetEffectiveRanks().Values, rank => Assert.Equal(0, rank));
        Assert.Contains("every rank of adapter 'default' is pruned", log.ToString());

        // Defined behaviour: the model computes exactly what the base model computes.
        model.eval();
        using var ids = tensor(new long[] { 2, 5, 7, 9, 3 }).view(1, -1);
        using var mask = ones_like(ids);
        using var adapted = model.Forward(ids, mask);
        using (peft.DisableAdapters())
        {
            using var plain = model.Forward(ids, mask);
            Assert.True(adapted.allclose(plain, 0, 0), "an adapter with every rank pruned must add exactly nothing");
        }

        var error = Assert.Throws<AllRanksPrunedException>(() => peft.ExportPlainLora(Dir("sora-zero-export")));
        Assert.Contains("rank 0 in every module", error.Message);
        Assert.False(Directory.Exists(Dir("sora-zero-export")));
    }

    [Fact]
    public void AZeroAdaLoraBudgetAndADyLoraRankAboveRMaxAreClearErrors()
    {
        var budget = Assert.Throws<PeftConfigurationException>(() => new AdaLoraConfig { TargetR = 0, TotalStep = 100, TargetModules = TargetModules.FromNames("query") }.Validate());
        Assert.Contains("TargetR", budget.Message);
        Assert.Contains("zero budget", budget.Message);

        var task = ToyTask();
        var baseDir = TinyBase(task);
        var (_, peft, _, _, _) = Setup(baseDir, task, new DyLoraConfig { R = 4, TargetModules = TargetModules.FromNames("query") });
        var rank = Assert.Throws<ArgumentOutOfRangeException>(() => DyLora.SetRank(peft, 5));
        Assert.Contains("DyLoRA rank must be in 1..4, got 5", rank.Message);
        var evalRank = Assert.Throws<PeftConfigurationException>(() => new DyLoraConfig { R = 4, EvalRank = 5, TargetModules = TargetModules.FromNames("query") }.Validate());
        Assert.Contains("EvalRank must be an integer in 1..4, got 5", evalRank.Message);
    }
}
