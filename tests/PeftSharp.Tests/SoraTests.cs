using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sora;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class SoraTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-sora-");

    public void Dispose() => _temp.Delete(recursive: true);

    private static SoraConfig Config() => new() { R = 4, LoraAlpha = 8, TargetModules = TargetModules.FromNames("fc1", "fc2") };

    [Theory]
    [InlineData(SoraThresholdMode.Proximal, new[] { 1.5, 0.5, 0, 0, -0.5, -1.5, 0, 1.0 })]
    [InlineData(SoraThresholdMode.Reference, new[] { 1.5, 0, 0, 0, 0, -1.5, 1.0, 1.0 })]
    public void TheThresholdModesMatchTheSpecVectors(SoraThresholdMode mode, double[] expected)
    {
        var values = tensor(new[] { 2.5, 1.5, 0.5, -0.5, -1.5, -2.5, 1.0, 2.0 });
        SoraGateOptimizer.Threshold(values, 1.0, mode);
        Assert.Equal(expected, values.data<double>().ToArray());
    }

    [Fact]
    public void TheScheduleListsFollowNumpy()
    {
        Assert.Equal([0.001, 0.002, 0.003, 0.004], SoraGateOptimizer.LambdaList(0.001, SoraLambdaSchedule.Linear, 0.004, 4).Select(v => Math.Round(v, 12)));
        var exp = SoraGateOptimizer.LambdaList(1e-4, SoraLambdaSchedule.ExpLinear, 1e-2, 3);
        Assert.Equal(1e-3, exp[1], 12);
        var log = SoraGateOptimizer.LambdaList(0, SoraLambdaSchedule.LogLinear, 1, 3);
        Assert.Equal(Math.Log((1 + Math.E) / 2), log[1], 12);
        Assert.Throws<PeftConfigurationException>(() => SoraGateOptimizer.LambdaList(0, SoraLambdaSchedule.ExpLinear, 1, 3));
        var error = Assert.Throws<PeftConfigurationException>(() => new SoraConfig { LambdaSchedule = SoraLambdaSchedule.Linear, MaxLambda = 1e-3, LambdaNum = 4, TargetModules = TargetModules.FromNames("fc1") }.Validate());
        Assert.Contains("LambdaStageSteps", error.Message);
    }

    [Fact]
    public void StartsAtTheBaseOutputAndMergedEqualsUnmerged()
    {
        manual_seed(1);
        var model = new Mlp(8, 16, 3);
        var x = randn(5, 8);
        var before = model.forward(x).detach();
        var peft = PeftModel.Create(model, Config());
        TestUtil.AssertClose(model.forward(x).detach(), before, 0, 0);
        var path = (SoraPath)peft.AdaptedModules[0].Layer.GetPath("default");
        Assert.True(path.Gate.abs().sum().item<float>() > 0, "gates start N(0, 1), not zero");
        using (no_grad())
        {
            foreach (var m in peft.AdaptedModules)
            {
                var p = (SoraPath)m.Layer.GetPath("default");
                p.B.normal_();
                p.Gate[0, 1] = 0f;
                p.SetNonZeroCount(null);
            }
        }

        Assert.Equal(3, path.EffectiveRank);
        var unmerged = model.forward(x).detach();
        peft.MergeAdapter();
        TestUtil.AssertClose(model.forward(x).detach(), unmerged, 1e-5, 1e-5);
    }

    [Fact]
    public void ThePrunedLoraExportReproducesTheGatedModelAndLoadsAsPlainLora()
    {
        manual_seed(2);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, Config());
        using (no_grad())
        {
            var paths = peft.AdaptedModules.Select(m => (SoraPath)m.Layer.GetPath("default")).ToList();
            foreach (var p in paths)
            {
                p.B.normal_();
            }

            paths[0].Gate[0, 0] = 0f;
            paths[0].Gate[0, 3] = 0f;
            paths[1].Gate[0, 2] = 0f;
        }

        model.eval();
        var x = randn(6, 8);
        var expected = model.forward(x).detach();
        var exported = peft.ExportPlainLora(_temp.FullName);
        Assert.Equal((2, 3), (exported.RankFor("fc1"), exported.RankFor("fc2")));
        Assert.Equal((8.0 / 4 * 2, 8.0 / 4 * 3), (exported.AlphaFor("fc1"), exported.AlphaFor("fc2")));
        using (var file = SafetensorsFile.Open(Path.Combine(_temp.FullName, "adapter_model.safetensors")))
        {
            Assert.Equal([2L, 8L], file.Entries.Single(e => e.Name == "base_model.model.fc1.lora_A.weight").Shape);
        }

        manual_seed(2);
        var fresh = new Mlp(8, 16, 3);
        var loaded = PeftModel.FromPretrained(fresh, _temp.FullName);
        Assert.IsType<LoraConfig>(loaded.GetConfig("default"));
        fresh.eval();
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-6);
    }

    [Fact]
    public void TheNativeCheckpointRoundTripsWithItsSettings()
    {
        manual_seed(3);
        var model = new Mlp(8, 16, 3);
        var config = Config();
        config.SparseLambda = 0.5;
        config.ThresholdMode = SoraThresholdMode.Proximal;
        config.LambdaSchedule = SoraLambdaSchedule.Linear;
        config.MaxLambda = 1e-3;
        config.LambdaNum = 3;
        config.LambdaStageSteps = 5;
        var peft = PeftModel.Create(model, config);
        using (no_grad())
        {
            foreach (var m in peft.AdaptedModules)
            {
                ((SoraPath)m.Layer.GetPath("default")).B.normal_();
            }
        }

        model.eval();
        var x = randn(4, 8);
        var expected = model.forward(x).detach();
        peft.SavePretrained(_temp.FullName);
        var saved = (SoraConfig)AdapterConfigFile.Read(Path.Combine(_temp.FullName, "adapter_config.json"));
        Assert.Equal((0.5, SoraThresholdMode.Proximal, SoraLambdaSchedule.Linear, 1e-3, 3, 5), (saved.SparseLambda, saved.ThresholdMode, saved.LambdaSchedule, saved.MaxLambda!.Value, saved.LambdaNum!.Value, saved.LambdaStageSteps!.Value));
        manual_seed(3);
        var fresh = new Mlp(8, 16, 3);
        PeftModel.FromPretrained(fresh, _temp.FullName);
        fresh.eval();
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 0, 0);
    }

    [Fact]
    public void ABadThresholdModeIsRefusedNamingTheField()
    {
        var path = Path.Combine(_temp.FullName, "adapter_config.json");
        File.WriteAllText(path, """{"peft_type": "SORA", "r": 4, "target_modules": ["fc1"], "threshold_mode": "hard"}""");
        var error = Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(path));
        Assert.Contains("threshold_mode", error.Message);
        Assert.Contains("proximal", error.Message);
    }

    [Fact]
    public void TheControllerOwnsTheGatesAddsTheL1TermAndSteppsXiAtStageBoundaries()
    {
        manual_seed(4);
        var model = new Mlp(8, 16, 3);
        var config = Config();
        config.SparseLambda = 2;
        config.LambdaSchedule = SoraLambdaSchedule.Linear;
        config.MaxLambda = 3e-3;
        config.LambdaNum = 3;
        config.LambdaStageSteps = 2;
        var peft = PeftModel.Create(model, config);
        var controller = (SoraController)peft.GetController()!;
        var gates = peft.AdaptedModules.Select(m => ((SoraPath)m.Layer.GetPath("default")).Gate).ToList();
        Assert.Equal(gates.Select(g => g.Handle), controller.OwnedParameters.Select(p => p.Handle));
        var l1 = controller.ExtraLoss(0)!.item<float>();
        Assert.Equal(2 * gates.Sum(g => g.abs().sum().item<float>()) / 8, l1, 4);
        for (var step = 0; step < 5; step++)
        {
            controller.OnAfterOptimizerStep(step);
        }

        Assert.Equal(3e-3, controller.GateOptimizer.Lambda, 12);
        Assert.Equal(2, controller.GateOptimizer.LambdaIndex);
    }
}
