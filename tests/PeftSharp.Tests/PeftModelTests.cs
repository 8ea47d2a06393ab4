using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class PeftModelTests
{
    private static LoraConfig Config(int r = 4) => new() { R = r, LoraAlpha = 2 * r, TargetModules = TargetModules.FromNames("fc1", "fc2") };

    [Fact]
    public void InjectionFreezesTheBaseAndReportsCountsLikePeft()
    {
        manual_seed(0);
        var model = new Mlp(8, 16, 3);
        long total = model.parameters().Sum(p => p.numel());
        var peft = PeftModel.Create(model, Config(4));
        long lora = 4 * (8 + 16) + 4 * (16 + 16);
        var report = peft.GetParameterReport();
        Assert.Equal(lora, report.Trainable);
        Assert.Equal(total + lora, report.Total);
        Assert.Equal($"trainable params: {lora:N0} || all params: {total + lora:N0} || trainable%: {100.0 * lora / (total + lora):F4}", report.ToString());
        Assert.All(peft.GetTrainableParameters(), p => Assert.True(p.requires_grad));
        Assert.Equal(4, peft.GetTrainableParameters().Count);
    }

    [Fact]
    public void AfterBackwardOnlyAdapterParametersHaveGradients()
    {
        manual_seed(1);
        var model = new Mlp();
        var peft = PeftModel.Create(model, Config());
        TestUtil.RandomizeAdapters(peft);
        nn.functional.cross_entropy(model.forward(randn(5, 8)), tensor(new long[] { 0, 1, 2, 0, 1 })).backward();
        var trainable = peft.GetTrainableParameters().Select(p => p.Handle).ToHashSet();
        foreach (var (name, parameter) in model.named_parameters())
        {
            var hasGrad = parameter.grad is { } g && g.abs().sum().item<float>() > 0;
            Assert.True(hasGrad == trainable.Contains(parameter.Handle), $"{name}: gradient {(hasGrad ? "present" : "absent")}");
            Assert.True(name.Contains(".default.lora_") == trainable.Contains(parameter.Handle), name);
        }
    }

    [Fact]
    public void ZeroInitAdapterReproducesTheBaseModel()
    {
        manual_seed(2);
        var model = new Tower();
        var x = randn(3, 8);
        var expected = model.forward(x).detach();
        PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear });
        Assert.True(TestUtil.Identical(model.forward(x).detach(), expected));
    }

    [Fact]
    public void MergeAndUnloadReturnsAPlainModelWithTheSameOutput()
    {
        manual_seed(3);
        var model = new Tower();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.FromNames("q", "v", "fc_in"), ModulesToSave = ["lm_head"] });
        TestUtil.RandomizeAdapters(peft);
        using (no_grad())
        {
            var copy = (Linear)peft.SavedModules.Single().Wrapper.GetCopy("default");
            copy.weight!.add_(1.0f);
        }

        model.eval();
        var x = randn(4, 8);
        var adapted = model.forward(x).detach();
        var plain = peft.MergeAndUnload();
        Assert.Same(model, plain);
        Assert.DoesNotContain(plain.modules(), m => m is AdapterLayer or ModulesToSaveWrapper);
        Assert.Contains("layers.0.q.weight", plain.state_dict().Keys);
        Assert.DoesNotContain(plain.state_dict().Keys, k => k.Contains("lora") || k.Contains("base_layer"));
        TestUtil.AssertClose(((Tower)plain).forward(x).detach(), adapted, 1e-5, 1e-5);
        Assert.Throws<InvalidOperationException>(() => peft.MergeAdapter());
    }

    [Fact]
    public void UnloadGivesBackTheOriginalModel()
    {
        manual_seed(4);
        var model = new Tower();
        var x = randn(4, 8);
        var original = model.forward(x).detach();
        var keys = model.state_dict().Keys.ToList();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear, ModulesToSave = ["lm_head"] });
        TestUtil.RandomizeAdapters(peft);
        peft.MergeAdapter();
        var plain = peft.Unload();
        Assert.Equal(keys, plain.state_dict().Keys.ToList());
        TestUtil.AssertClose(((Tower)plain).forward(x).detach(), original, 1e-5, 1e-5);
    }

    [Fact]
    public void SeveralAdaptersSwitchDisableAndDelete()
    {
        manual_seed(5);
        var model = new Mlp();
        var x = randn(4, 8);
        var baseOut = model.forward(x).detach();
        var peft = PeftModel.Create(model, Config(4));
        TestUtil.RandomizeAdapters(peft, "default");
        var first = model.forward(x).detach();

        peft.AddAdapter("second", Config(2));
        Assert.Equal(["default"], peft.ActiveAdapters);
        Assert.True(TestUtil.Identical(model.forward(x).detach(), first), "a new adapter is inactive");
        TestUtil.RandomizeAdapters(peft, "second");
        peft.SetAdapter("second");
        var second = model.forward(x).detach();
        Assert.False(second.allclose(first));

        var trainable = peft.GetTrainableParameters();
        Assert.Equal(4, trainable.Count);
        Assert.All(trainable, p => Assert.Contains(2L, p.shape));

        peft.SetActiveAdapters(["default", "second"]);
        var both = model.forward(x).detach();
        var fc1 = peft.AdaptedModules.Single(m => m.Name == "fc1").Layer;
        var expectedFc1 = fc1.BaseLayer.forward(x) + fc1.GetPath("default").forward(x) + fc1.GetPath("second").forward(x);
        TestUtil.AssertClose(fc1.forward(x).detach(), expectedFc1.detach(), 1e-5, 1e-6);

        using (peft.DisableAdapters())
        {
            Assert.True(TestUtil.Identical(model.forward(x).detach(), baseOut));
        }

        Assert.True(TestUtil.Identical(model.forward(x).detach(), both));
        peft.DeleteAdapter("default");
        Assert.Equal(["second"], peft.ActiveAdapters);
        Assert.Equal(["second"], peft.AdapterNames);
        TestUtil.AssertClose(model.forward(x).detach(), second, 1e-6, 1e-6);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains(".default."));
        Assert.Throws<KeyNotFoundException>(() => peft.SetAdapter("default"));
        Assert.Throws<ArgumentException>(() => peft.AddAdapter("second", Config()));
    }

    [Fact]
    public void AMergedAdapterCannotBeDeletedAndDisablingUnmergesIt()
    {
        manual_seed(6);
        var model = new Mlp();
        var x = randn(4, 8);
        var baseOut = model.forward(x).detach();
        var peft = PeftModel.Create(model, Config());
        TestUtil.RandomizeAdapters(peft);
        peft.MergeAdapter();
        Assert.Throws<InvalidOperationException>(() => peft.DeleteAdapter("default"));
        using (peft.DisableAdapters())
        {
            TestUtil.AssertClose(model.forward(x).detach(), baseOut, 1e-5, 1e-5);
        }

        Assert.All(peft.AdaptedModules, m => Assert.False(m.Layer.IsMerged));
        peft.DeleteAdapter("default");
        Assert.Empty(peft.AdapterNames);
    }

    [Fact]
    public void ModulesToSaveTrainsACopyPerAdapterAndKeepsTheOriginalFrozen()
    {
        manual_seed(7);
        var model = new Mlp();
        var x = randn(4, 8);
        var config = Config();
        config.ModulesToSave = ["head"];
        var peft = PeftModel.Create(model, config);
        var wrapper = peft.SavedModules.Single().Wrapper;
        Assert.All(wrapper.OriginalModule.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(wrapper.GetCopy("default").parameters(), p => Assert.True(p.requires_grad));
        Assert.Equal(4 + 2, peft.GetTrainableParameters().Count);
        Assert.Contains("head.modules_to_save.default.weight", model.state_dict().Keys);
        Assert.Contains("head.original_module.weight", model.state_dict().Keys);

        var before = model.forward(x).detach();
        using (no_grad())
        {
            ((Linear)wrapper.GetCopy("default")).bias!.add_(3.0f);
        }

        TestUtil.AssertClose(model.forward(x).detach(), before + 3.0f, 1e-6, 1e-5);
        using (peft.DisableAdapters())
        {
            TestUtil.AssertClose(model.forward(x).detach(), before, 1e-6, 1e-6);
        }

        var second = Config();
        second.ModulesToSave = ["head"];
        peft.AddAdapter("other", second);
        peft.SetAdapter("other");
        TestUtil.AssertClose(model.forward(x).detach(), before, 1e-6, 1e-6);
    }

    [Fact]
    public void BiasModesChooseWhichBiasesTrain()
    {
        manual_seed(8);
        var all = Config();
        all.Bias = BiasMode.All;
        var peftAll = PeftModel.Create(new Mlp(), all);
        Assert.Equal(4 + 3, peftAll.GetTrainableParameters().Count);

        var only = Config();
        only.Bias = BiasMode.AdapterOnly;
        var peftOnly = PeftModel.Create(new Mlp(), only);
        Assert.Equal(4 + 2, peftOnly.GetTrainableParameters().Count);
        Assert.All(peftOnly.AdaptedModules, m => Assert.True(m.Layer.Target.Bias!.requires_grad));
    }

    [Fact]
    public void InferenceModeAdaptersAreNotTrainable()
    {
        var config = Config();
        config.InferenceMode = true;
        var peft = PeftModel.Create(new Mlp(), config);
        Assert.Empty(peft.GetTrainableParameters());
    }

    [Fact]
    public void ModulesToSaveThatMatchNothingIsAnError()
    {
        var config = Config();
        config.ModulesToSave = ["classifer"];
        var error = Assert.Throws<TargetModulesNotFoundException>(() => PeftModel.Create(new Mlp(), config));
        Assert.Contains("classifer", error.Message);
    }

    [Fact]
    public void ConvOneDLayersAreAdaptedWithTransposedMerge()
    {
        manual_seed(9);
        var model = new ConvModel();
        var x = randn(3, 6);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.FromNames("c_attn") });
        TestUtil.RandomizeAdapters(peft);
        var unmerged = model.forward(x).detach();
        peft.MergeAdapter();
        TestUtil.AssertClose(model.forward(x).detach(), unmerged, 1e-5, 1e-6);
    }
}
