using PeftSharp.Adapters;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class DyLoraTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-dylora-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public void RanksAreDrawnUniformlyOncePerStepForEveryModule()
    {
        var counts = new int[9];
        for (var step = 0; step < 16000; step++)
        {
            counts[DyLoraController.RankForStep(3, step, 8)]++;
        }

        Assert.Equal(0, counts[0]);
        Assert.All(counts.Skip(1), c => Assert.InRange(c, 1800, 2200));
        Assert.NotEqual(
            Enumerable.Range(0, 50).Select(s => DyLoraController.RankForStep(3, s, 8)),
            Enumerable.Range(0, 50).Select(s => DyLoraController.RankForStep(4, s, 8)));

        manual_seed(1);
        var peft = PeftModel.Create(new Tower(), new DyLoraConfig { R = 6, TargetModules = TargetModules.FromNames("q", "v"), RankSeed = 3 });
        var controller = (DyLoraController)peft.GetController()!;
        for (var step = 0; step < 20; step++)
        {
            controller.OnStepBegin(step);
            Assert.All(peft.AdaptedModules, m => Assert.Equal(controller.CurrentRank, m.Layer.GetPath("default").Rank));
            Assert.Equal(DyLoraController.RankForStep(3, step, 6), controller.CurrentRank);
        }

        var sampled = controller.CurrentRank;
        controller.OnEvaluationBegin();
        Assert.All(peft.AdaptedModules, m => Assert.Equal(6, m.Layer.GetPath("default").Rank));
        controller.OnEvaluationEnd();
        Assert.All(peft.AdaptedModules, m => Assert.Equal(sampled, m.Layer.GetPath("default").Rank));
        controller.OnTrainingEnd();
        Assert.All(peft.AdaptedModules, m => Assert.Equal(6, m.Layer.GetPath("default").Rank));
    }

    [Fact]
    public void AtFullRankUnfrozenDyLoraIsLoraWithAlphaOverRMax()
    {
        manual_seed(2);
        var path = new DyLoraPath(10, 7, 4, 8) { Frozen = false };
        var lora = new LoraPath(10, 7, 4, 8);
        using (no_grad())
        {
            path.B.normal_();
            lora.A.copy_(path.A);
            lora.B.copy_(path.B);
        }

        var x = randn(3, 10);
        TestUtil.AssertClose(path.forward(x), lora.forward(x), 1e-6, 1e-6);
    }

    [Fact]
    public void ACompactRankKExportEqualsTheModelAtRankK()
    {
        manual_seed(3);
        var model = new Tower();
        var peft = PeftModel.Create(model, new DyLoraConfig { R = 6, LoraAlpha = 12, TargetModules = TargetModules.FromNames("q", "v") });
        using (no_grad())
        {
            foreach (var m in peft.AdaptedModules)
            {
                ((DyLoraPath)m.Layer.GetPath("default")).B.normal_(0, 0.3);
            }
        }

        model.eval();
        var x = randn(3, 8);
        DyLora.SetRank(peft, 3);
        var expected = model.forward(x).detach();
        var exported = peft.ExportPlainLora(_temp.FullName);
        Assert.Equal(3, exported.R);
        Assert.Equal(12, exported.LoraAlpha, 12);
        manual_seed(3);
        var fresh = new Tower();
        PeftModel.FromPretrained(fresh, _temp.FullName);
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-6);

        peft.MergeAdapter();
        Assert.Throws<InvalidOperationException>(() => DyLora.SetRank(peft, 2));
        TestUtil.AssertClose(model.forward(x).detach(), expected, 1e-5, 1e-5);
        peft.UnmergeAdapter();
        Assert.Throws<ArgumentOutOfRangeException>(() => DyLora.SetRank(peft, 7));
    }

    [Fact]
    public void DyLoraCheckpointsRoundTripWithTheirOwnPeftType()
    {
        manual_seed(4);
        var model = new Tower();
        var peft = PeftModel.Create(model, new DyLoraConfig { R = 5, EvalRank = 4, RankSeed = 9, FrozenMode = false, TargetModules = TargetModules.FromNames("k") });
        peft.SavePretrained(_temp.FullName);
        Assert.Contains("\"peft_type\": \"DYLORA\"", File.ReadAllText(Path.Combine(_temp.FullName, "adapter_config.json")));
        var loaded = PeftModel.FromPretrained(new Tower(), _temp.FullName);
        var config = (DyLoraConfig)loaded.GetConfig("default");
        Assert.Equal((5, 4, 9, false), (config.R, config.EvalRank, config.RankSeed, config.FrozenMode));
        Assert.All(loaded.AdaptedModules, m => Assert.Equal(4, m.Layer.GetPath("default").Rank));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FrozenComponentsDriftUnderAdamWUnlessStrict(bool strict)
    {
        manual_seed(5);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, new DyLoraConfig { R = 4, TargetModules = TargetModules.FromNames("fc1"), StrictFreeze = strict, RankSeed = 1 });
        var path = (DyLoraPath)peft.AdaptedModules[0].Layer.GetPath("default");
        var controller = (DyLoraController)peft.GetController()!;
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 0.05, weight_decay: 0.1);
        var x = randn(16, 8);
        var y = randint(0, 3, [16]);
        Tensor before = path.A.detach().clone(), beforeB = path.B.detach().clone();
        var live = new HashSet<int>();
        for (var step = 0; step < 6; step++)
        {
            using var scope = NewDisposeScope();
            controller.OnStepBegin(step);
            live.Add(controller.CurrentRank - 1);
            model.train();
            nn.functional.cross_entropy(model.forward(x), y).backward();
            controller.OnAfterBackward(step);
            optimizer.step();
            controller.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
        }

        var untouched = Enumerable.Range(0, 4).Where(i => !live.Contains(i)).ToList();
        var moved = Enumerable.Range(0, 4).Where(i => !path.A[i].allclose(before[i])).ToList();
        if (strict)
        {
            Assert.All(moved, i => Assert.Contains(i, live));
            Assert.All(untouched, i => Assert.True(TestUtil.Identical(path.A[i], before[i]) && TestUtil.Identical(path.B[.., i], beforeB[.., i])));
        }
        else
        {
            Assert.Equal(4, moved.Count);
            Assert.True(untouched.Count == 0 || !path.A[untouched[0]].allclose(before[untouched[0]]), "without strict freeze, weight decay moves even components never sampled");
        }
    }
}
