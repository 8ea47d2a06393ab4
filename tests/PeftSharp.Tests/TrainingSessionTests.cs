using PeftSharp.Adapters;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sora;
using PeftSharp.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>A training loop of the user's own through <see cref="PeftModel.BeginTraining"/>.</summary>
public sealed class TrainingSessionTests : IDisposable
{
    private const double LearningRate = 1e-2;
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-session-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>Settings that prune within a few dozen steps: a large L1 weight and threshold.</summary>
    private static SoraConfig PruningSora() => new()
    {
        R = 8, LoraAlpha = 16, SparseLambda = 10, SparseLambda2 = 0.02,
        TargetModules = TargetModules.FromNames("fc1", "fc2"),
    };

    private static (Tensor X, Tensor Y) Data()
    {
        var data = new Generator(11);
        var x = randn(64, 8, generator: data);
        var y = randint(0, 3, [64], generator: data);
        return (x, y);
    }

    /// <summary>Trains with a session: the loop a user writes.</summary>
    private static void TrainWithSession(PeftModel peft, nn.Module<Tensor, Tensor> model, int steps)
    {
        var (x, y) = Data();
        using var session = peft.BeginTraining(LearningRate);
        using var optimizer = optim.AdamW(session.Parameters, lr: LearningRate, weight_decay: 0);
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            session.Backward(loss);
            optimizer.step();
            session.AfterOptimizerStep();
            optimizer.zero_grad();
        }
    }

    private static List<Tensor> Gates(PeftModel peft) =>
        peft.AdaptedModules.Select(m => ((SoraPath)m.Layer.GetPath("default")).Gate.detach().clone()).ToList<Tensor>();

    [Fact]
    public void SessionParametersLeaveOutTheControllersGates()
    {
        manual_seed(1);
        var peft = PeftModel.Create(new Mlp(8, 16, 3), PruningSora());
        using var session = peft.BeginTraining(LearningRate);
        var owned = peft.GetController()!.OwnedParameters.Select(p => p.Handle).ToHashSet();
        Assert.Equal(2, owned.Count);
        Assert.DoesNotContain(session.Parameters, p => owned.Contains(p.Handle));
        Assert.Equal(peft.GetTrainableParameters().Count, session.Parameters.Count + session.OwnedParameters.Count);
    }

    [Fact]
    public void ACustomSoraLoopPrunesRanksWithoutWarnings()
    {
        manual_seed(2);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, PruningSora());
        var before = peft.GetEffectiveRanks().Values.Sum();
        TrainWithSession(peft, model, 40);
        var after = peft.GetEffectiveRanks();
        Assert.Equal(16, before);
        Assert.True(after.Values.Sum() < before, string.Join(", ", after));
        Assert.True(after.Values.Sum() > 0, string.Join(", ", after));
        peft.SavePretrained(_temp.FullName);
        Assert.Empty(peft.Warnings);
    }

    [Fact]
    public void ACustomSoraLoopEqualsTheTrainingLoopSoTheGatesGetOneUpdatePerStep()
    {
        const int steps = 12;
        manual_seed(3);
        var mine = new Mlp(8, 16, 3);
        var minePeft = PeftModel.Create(mine, PruningSora());
        TrainWithSession(minePeft, mine, steps);
        Assert.Equal(steps, ((SoraController)minePeft.GetController()!).GateOptimizer.StepCount);

        manual_seed(3);
        var theirs = new Mlp(8, 16, 3);
        var theirsPeft = PeftModel.Create(theirs, PruningSora());
        var (x, y) = Data();
        var task = new LossTask(theirs, batchesPerEpoch: 1, (_, _) => (x, y), (output, target) => nn.functional.cross_entropy(output, target));
        var options = new TrainerOptions { MaxSteps = steps, LearningRate = LearningRate, WeightDecay = 0, WarmupRatio = 0, Schedule = LearningRateSchedule.Constant, MaxGradNorm = 0, LogEvery = 0 };
        new TrainingLoop(task, options, ParameterGroups.ForAdapter(theirsPeft, options), theirsPeft).Run();

        Assert.True(theirsPeft.GetEffectiveRanks().Count > 0);
        Assert.Empty(theirsPeft.Warnings);
        foreach (var (want, got) in Gates(theirsPeft).Zip(Gates(minePeft)))
        {
            TestUtil.AssertClose(got, want, 1e-6, 1e-6);
        }

        foreach (var (want, got) in theirsPeft.GetTrainableParameters().Zip(minePeft.GetTrainableParameters()))
        {
            TestUtil.AssertClose(got.detach(), want.detach(), 1e-6, 1e-6);
        }
    }

    [Fact]
    public void ACustomAdaLoraLoopShrinksTheRanks()
    {
        manual_seed(4);
        var model = new Mlp(8, 16, 3);
        var config = new AdaLoraConfig { InitR = 4, TargetR = 2, TInit = 2, TFinal = 3, DeltaT = 2, TotalStep = 20, TargetModules = TargetModules.FromNames("fc1", "fc2") };
        var peft = PeftModel.Create(model, config);
        Assert.Equal(8, peft.GetEffectiveRanks().Values.Sum());
        TrainWithSession(peft, model, 20);
        Assert.Equal(4, peft.GetEffectiveRanks().Values.Sum());
        Assert.Empty(peft.Warnings);
    }

    [Fact]
    public void ACustomDyLoraLoopSamplesTheRankOfEachStepAndEndsAtTheEvaluationRank()
    {
        manual_seed(8);
        var model = new Mlp(8, 16, 3);
        var config = new DyLoraConfig { R = 4, TargetModules = TargetModules.FromNames("fc1"), RankSeed = 1 };
        var peft = PeftModel.Create(model, config);
        var path = peft.AdaptedModules[0].Layer.GetPath("default");
        var (x, y) = Data();
        var ranks = new List<int>();
        using (var session = peft.BeginTraining(LearningRate))
        {
            using var optimizer = optim.AdamW(session.Parameters, lr: LearningRate);
            for (var step = 0; step < 8; step++)
            {
                using var scope = NewDisposeScope();
                ranks.Add(path.Rank);
                Assert.Equal(DyLoraController.RankForStep(1, step, 4), path.Rank);
                session.Backward(nn.functional.cross_entropy(model.forward(x), y));
                optimizer.step();
                session.AfterOptimizerStep();
                optimizer.zero_grad();
            }
        }

        Assert.True(ranks.Distinct().Count() > 1, string.Join(", ", ranks));
        Assert.Equal(4, path.Rank);
        Assert.Empty(peft.Warnings);
    }

    [Fact]
    public void SkippingTheHooksWarnsOnceNamingTheMethodAndTheCall()
    {
        manual_seed(5);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, PruningSora());
        var (x, y) = Data();
        model.train();
        using (var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: LearningRate))
        {
            for (var step = 0; step < 5; step++)
            {
                using var scope = NewDisposeScope();
                nn.functional.cross_entropy(model.forward(x), y).backward();
                optimizer.step();
                optimizer.zero_grad();
            }
        }

        var error = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            Assert.Equal(16, peft.GetEffectiveRanks().Values.Sum());
            peft.SavePretrained(_temp.FullName);
        }
        finally
        {
            Console.SetError(error);
        }

        var warning = Assert.Single(peft.Warnings);
        Assert.Contains("sora", warning, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("BeginTraining", warning);
        Assert.Contains("AfterOptimizerStep", warning);
        Assert.Single(captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void PlainLoraAndEvaluationOnlyForwardsDoNotWarn()
    {
        manual_seed(6);
        var (x, _) = Data();
        var lora = new Mlp(8, 16, 3);
        var loraPeft = PeftModel.Create(lora, new LoraConfig { R = 4, TargetModules = TargetModules.FromNames("fc1") });
        lora.train();
        lora.forward(x).Dispose();
        loraPeft.MergeAdapter();
        Assert.Empty(loraPeft.Warnings);

        var sora = new Mlp(8, 16, 3);
        var soraPeft = PeftModel.Create(sora, PruningSora());
        sora.eval();
        sora.forward(x).Dispose();
        soraPeft.SavePretrained(_temp.FullName);
        Assert.Empty(soraPeft.Warnings);
    }

    [Fact]
    public void BeginTrainingRefusesAnInactiveAdapter()
    {
        var peft = PeftModel.Create(new Mlp(8, 16, 3), new LoraConfig { R = 2, TargetModules = TargetModules.FromNames("fc1") });
        peft.AddAdapter("other", new LoraConfig { R = 2, TargetModules = TargetModules.FromNames("fc2") });
        var error = Assert.Throws<InvalidOperationException>(() => peft.BeginTraining(LearningRate, "other"));
        Assert.Contains("SetAdapter", error.Message);
    }

    [Fact]
    public void TheTypedPeftModelNeedsNoCasts()
    {
        manual_seed(7);
        var model = new Mlp(8, 16, 3);
        PeftModel<Mlp> peft = PeftModel.Create(model, new LoraConfig { R = 4, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        Mlp typed = peft.Model;
        Assert.Same(model, typed);
        Assert.Same(model, ((PeftModel)peft).Model);
        var (x, y) = Data();
        TrainWithSession(peft, peft.Model, 3);
        peft.Model.eval();
        var expected = peft.Model.forward(x).detach();
        Mlp merged = peft.MergeAndUnload();
        Assert.Same(model, merged);
        Assert.DoesNotContain(merged.modules(), m => m is AdapterLayer);
        TestUtil.AssertClose(merged.forward(x).detach(), expected, 1e-5, 1e-5);
        _ = y;
    }
}
