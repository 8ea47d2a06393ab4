using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class TargetingTests
{
    private static List<string> Adapted(PeftModel peft) => peft.AdaptedModules.Select(m => m.Name).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void SuffixMatchingIsDotAligned()
    {
        Assert.True(TargetSelector.MatchesSuffix("layers.0.q", "q"));
        Assert.True(TargetSelector.MatchesSuffix("q", "q"));
        Assert.False(TargetSelector.MatchesSuffix("layers.0.k_q", "q"));
        Assert.True(TargetSelector.MatchesSuffix("layers.0.mlp.fc_in", "mlp.fc_in"));
    }

    [Fact]
    public void NamesTargetEveryLayerWithThatSuffix()
    {
        manual_seed(0);
        var peft = PeftModel.Create(new Tower(), new LoraConfig { TargetModules = TargetModules.FromNames("q", "v") });
        Assert.Equal(["layers.0.q", "layers.0.v", "layers.1.q", "layers.1.v", "layers.2.q", "layers.2.v"], Adapted(peft));
    }

    [Fact]
    public void ACatastrophicallyBacktrackingPatternIsATypedErrorNotAHang()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<PeftConfigurationException>(() => TargetSelector.Matches(TargetModules.FromRegex("(a+)+b"), new string('a', 40)));
        Assert.Contains("target_modules: the pattern '(a+)+b' took longer than 1 s", error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public void RegexMustMatchTheWholeName()
    {
        manual_seed(0);
        var peft = PeftModel.Create(new Tower(), new LoraConfig { TargetModules = TargetModules.FromRegex(@"layers\.[02]\.(q|k)") });
        Assert.Equal(["layers.0.k", "layers.0.q", "layers.2.k", "layers.2.q"], Adapted(peft));
        Assert.Throws<TargetModulesNotFoundException>(() =>
            PeftModel.Create(new Tower(), new LoraConfig { TargetModules = TargetModules.FromRegex("q") }));
    }

    [Fact]
    public void AllLinearSkipsTheOutputHeadAndReachesEveryContainer()
    {
        manual_seed(0);
        var peft = PeftModel.Create(new Tower(layerCount: 2), new LoraConfig { TargetModules = TargetModules.FromString("ALL-LINEAR") });
        var names = Adapted(peft);
        Assert.DoesNotContain("lm_head", names);
        Assert.Contains("proj", names);
        Assert.Contains("extra.gate", names);
        Assert.Contains("layers.1.mlp.fc_out", names);
        Assert.Equal(1 + 1 + 2 * 6, names.Count);
    }

    [Fact]
    public void AllLinearOnAPlainModelLeavesOutTheLastLinear()
    {
        manual_seed(0);
        var peft = PeftModel.Create(new Mlp(), new LoraConfig { TargetModules = TargetModules.AllLinear });
        Assert.Equal(["fc1", "fc2"], Adapted(peft));
    }

    [Fact]
    public void LayersToTransformReadsTheIndexAfterThePattern()
    {
        manual_seed(0);
        var config = new LoraConfig { TargetModules = TargetModules.FromNames("q"), LayersToTransform = [0, 2], LayersPattern = ["layers"] };
        Assert.Equal(["layers.0.q", "layers.2.q"], Adapted(PeftModel.Create(new Tower(), config)));
        var noPattern = new LoraConfig { TargetModules = TargetModules.FromNames("q"), LayersToTransform = [1] };
        Assert.Equal(["layers.1.q"], Adapted(PeftModel.Create(new Tower(), noPattern)));
        Assert.Equal(7, TargetSelector.LayerIndex("model.h.7.experts.3.w", ["h"]));
        Assert.Equal(7, TargetSelector.LayerIndex("model.h.7.experts.3.w", null));
        Assert.Null(TargetSelector.LayerIndex("model.h.7.experts.3.w", ["blocks"]));
        Assert.Null(TargetSelector.LayerIndex("0.q", null));
    }

    [Fact]
    public void LayersOutsideTheRangeGiveAnErrorThatSaysSo()
    {
        var config = new LoraConfig { TargetModules = TargetModules.FromNames("q"), LayersToTransform = [9], LayersPattern = ["layers"] };
        var error = Assert.Throws<TargetModulesNotFoundException>(() => PeftModel.Create(new Tower(), config));
        Assert.Contains("LayersToTransform", error.Message);
    }

    [Fact]
    public void RankAndAlphaPatternsPickTheFirstMatchingKey()
    {
        manual_seed(0);
        var config = new LoraConfig
        {
            R = 4,
            LoraAlpha = 8,
            TargetModules = TargetModules.FromNames("q", "v"),
            RankPattern = new(StringComparer.Ordinal) { ["layers.1.q"] = 2, ["q"] = 6 },
            AlphaPattern = new(StringComparer.Ordinal) { ["^layers.2.v"] = 32 },
        };
        var peft = PeftModel.Create(new Tower(), config);
        LoraPath Path(string name) => (LoraPath)peft.AdaptedModules.Single(m => m.Name == name).Layer.GetPath("default");
        Assert.Equal(6, Path("layers.0.q").Rank);
        Assert.Equal(2, Path("layers.1.q").Rank);
        Assert.Equal(4, Path("layers.1.v").Rank);
        Assert.Equal(8.0 / 6, Path("layers.0.q").Scaling, 12);
        Assert.Equal(32.0 / 4, Path("layers.2.v").Scaling, 12);
        Assert.Equal(2.0, Path("layers.0.v").Scaling, 12);
        Assert.Empty(peft.Warnings);
        Assert.False(TargetSelector.FindPatternKey(["q"], "layers.0.k_q") is not null, "pattern keys are dot-anchored");
    }

    [Fact]
    public void PatternKeysThatMatchNothingAreReported()
    {
        var config = new LoraConfig { TargetModules = TargetModules.FromNames("q"), RankPattern = new(StringComparer.Ordinal) { ["nothing_here"] = 2 } };
        var peft = PeftModel.Create(new Tower(), config);
        Assert.Contains(peft.Warnings, w => w.Contains("nothing_here"));
    }

    [Fact]
    public void ExcludeModulesAndModulesToSaveWinOverTargets()
    {
        manual_seed(0);
        var config = new LoraConfig
        {
            TargetModules = TargetModules.FromRegex(@".*\.(q|v)|lm_head"),
            ExcludeModules = TargetModules.FromNames("layers.1.q"),
            ModulesToSave = ["lm_head"],
        };
        var peft = PeftModel.Create(new Tower(), config);
        Assert.Equal(["layers.0.q", "layers.0.v", "layers.1.v", "layers.2.q", "layers.2.v"], Adapted(peft));
        Assert.Equal("lm_head", Assert.Single(peft.SavedModules).Name);
    }

    [Fact]
    public void NothingMatchedNamesThePatternAndNearCandidates()
    {
        var error = Assert.Throws<TargetModulesNotFoundException>(() =>
            PeftModel.Create(new Tower(), new LoraConfig { TargetModules = TargetModules.FromNames("q_proj") }));
        Assert.Contains("'q_proj'", error.Message);
        Assert.Contains("layers.0.q", error.NearCandidates);
        Assert.Contains("layers.0.q", error.Message);
    }

    [Fact]
    public void ANonLinearMatchIsAnErrorThatListsTheLinearsInside()
    {
        var model = new Tower();
        var before = model.state_dict().Keys.ToList();
        var error = Assert.Throws<UnsupportedTargetModuleException>(() =>
            PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.FromNames("mlp", "q") }));
        Assert.Equal("layers.0.mlp", error.ModuleName);
        Assert.Contains("Sequential", error.Message);
        Assert.Contains("layers.0.mlp.fc_in", error.Message);
        Assert.Equal(before, model.state_dict().Keys.ToList());
    }

    [Fact]
    public void AFieldTypedLinearCannotBeRewrittenAndSaysHowToFixIt()
    {
        var model = new SealedFieldModel();
        var error = Assert.Throws<ModuleReplacementException>(() =>
            PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.FromNames("proj") }));
        Assert.DoesNotContain(model.modules(), m => m is AdapterLayer);
        Assert.Contains("nn.Module<Tensor, Tensor>", error.Message);
    }

    [Fact]
    public void InvalidConfigurationsAreRejectedBeforeInjection()
    {
        Assert.Throws<PeftConfigurationException>(() => PeftModel.Create(new Mlp(), new LoraConfig()));
        Assert.Throws<PeftConfigurationException>(() => PeftModel.Create(new Mlp(), new LoraConfig { R = 0, TargetModules = TargetModules.FromNames("fc1") }));
        Assert.Throws<PeftConfigurationException>(() => PeftModel.Create(new Mlp(), new LoraConfig { LoraDropout = 1.5, TargetModules = TargetModules.FromNames("fc1") }));
        Assert.Throws<PeftConfigurationException>(() => PeftModel.Create(new Mlp(), new LoraConfig { TargetModules = TargetModules.FromRegex("fc.*"), LayersToTransform = [0] }));
        Assert.Throws<PeftConfigurationException>(() => TargetModules.FromRegex("(unclosed"));
        var badPattern = new LoraConfig { TargetModules = TargetModules.FromNames("fc1"), RankPattern = new(StringComparer.Ordinal) { ["fc1"] = -1 } };
        Assert.Throws<PeftConfigurationException>(() => PeftModel.Create(new Mlp(), badPattern));
    }

    [Fact]
    public void SequentialModuleListAndModuleDictChildrenAreRewrittenForForwardAndRegistry()
    {
        manual_seed(0);
        var model = new Tower(layerCount: 2);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.FromNames("fc_in", "gate", "q") });
        Assert.IsType<AdapterLayer>(ModuleSurgery.GetModule(model, "layers.1.mlp.fc_in"));
        Assert.IsType<AdapterLayer>(ModuleSurgery.GetModule(model, "extra.gate"));
        Assert.Contains("layers.1.mlp.fc_in.base_layer.weight", model.state_dict().Keys);
        Assert.Contains("layers.1.mlp.fc_in.default.lora_A", model.state_dict().Keys);
        var x = randn(2, 8);
        var baseOutput = model.forward(x).detach();
        foreach (var module in peft.AdaptedModules)
        {
            var path = (LoraPath)module.Layer.GetPath("default");
            using (no_grad())
            {
                path.B.fill_(0.5f);
            }

            Assert.False(model.forward(x).detach().allclose(baseOutput), $"{module.Name} must be on the forward path");
            using (no_grad())
            {
                path.B.zero_();
            }
        }
    }
}
