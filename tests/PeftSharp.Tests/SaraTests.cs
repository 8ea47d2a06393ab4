using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.Sara;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class SaraTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-sara-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>A (out, in) matrix with the given singular values: U · diag(σ) · Vᵀ with random orthonormal U, V.</summary>
    private static Tensor WithSingularValues(int rows, int cols, double[] sigma)
    {
        var (u, _) = linalg.qr(randn(rows, rows, dtype: ScalarType.Float64));
        var (v, _) = linalg.qr(randn(cols, cols, dtype: ScalarType.Float64));
        var s = zeros(rows, cols, dtype: ScalarType.Float64);
        for (var i = 0; i < sigma.Length; i++)
        {
            s[i, i] = sigma[i];
        }

        return matmul(matmul(u, s), v.t()).to(ScalarType.Float32);
    }

    [Fact]
    public void TheRankIsTheFirstPrefixReachingTheThresholdOfTheSum()
    {
        manual_seed(1);
        // σ = 8, 4, 2, 1, 1 (sum 16): 50 % → 1 value, 70 % → 2 (12 ≥ 11.2), 80 % → 3 (14 ≥ 12.8), 100 % → 5.
        var w = WithSingularValues(6, 5, [8, 4, 2, 1, 1]);
        Assert.Equal([1, 2, 3, 5], new[] { 0.5, 0.7, 0.8, 1.0 }.Select(m => SaraRankSelection.SelectRank(w, m)));
        Assert.Equal(2, SaraRankSelection.SelectRank(w, 0.5, kMin: 2));
        Assert.Equal(2, SaraRankSelection.SelectRank(w, 1.0, kMax: 2));
        Assert.Throws<PeftConfigurationException>(() => SaraRankSelection.RankForThreshold([1.0], 0));
    }

    [Fact]
    public void TheReconstructedRankRuleVariantsAreOptions()
    {
        double[] sigma = [8, 4, 2, 1, 1]; // sum 16; 75 % = 12, reached exactly by the first two
        Assert.Equal(2, SaraRankSelection.RankForThreshold(sigma, 0.75));
        Assert.Equal(3, SaraRankSelection.RankForThreshold(sigma, 0.75, SaraRankRule.Exceeds));
        Assert.Equal(1, SaraRankSelection.RankForThreshold(sigma, 0.75, countPreceding: true));
        var path = Path.Combine(_temp.FullName, "adapter_config.json");
        File.WriteAllText(path, """{"peft_type": "SARA", "target_modules": ["fc1"], "rank_rule": "exceeds", "count_preceding": true, "orth_reg_weight": 0.1, "form": "svd"}""");
        var config = (SaraConfig)AdapterConfigFile.Read(path);
        Assert.Equal((SaraRankRule.Exceeds, true, 0.1), (config.RankRule, config.CountPreceding, config.OrthRegWeight));
        File.WriteAllText(path, """{"peft_type": "SARA", "target_modules": ["fc1"], "rank_rule": "maybe"}""");
        Assert.Contains("rank_rule", Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(path)).Message);
    }

    [Fact]
    public void TheSvdFormCanAddTheOrthogonalityPenalty()
    {
        manual_seed(7);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, new SaraConfig { Threshold = 0.5, Form = SaraForm.Svd, OrthRegWeight = 0.5, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        var controller = Assert.IsType<SaraController>(peft.GetController());
        var paths = peft.AdaptedModules.Select(m => (SaraPath)m.Layer.GetPath("default")).ToList();
        var expected = paths.SelectMany(p => new[] { (matmul(p.A, p.A.t()) - eye(p.Rank)).norm().item<float>(), (matmul(p.B.t(), p.B) - eye(p.Rank)).norm().item<float>() }).Average() * 0.5;
        Assert.Equal(expected, controller.ExtraLoss(0)!.item<float>(), 4);
        Assert.Null(PeftModel.Create(new Mlp(8, 16, 3), new SaraConfig { Threshold = 0.5, TargetModules = TargetModules.FromNames("fc1") }).GetController());
    }

    [Theory]
    [InlineData(SaraForm.Lora)]
    [InlineData(SaraForm.Svd)]
    public void SaraChoosesPerModuleRanksStartsAtZeroAndReloadsWithoutAnSvd(SaraForm form)
    {
        manual_seed(2);
        var model = new Mlp(8, 16, 3);
        using (no_grad())
        {
            model.get_parameter("fc1.weight")!.copy_(WithSingularValues(16, 8, [9, 1, 1, 1, 1, 1, 1, 1]));
            model.get_parameter("fc2.weight")!.copy_(WithSingularValues(16, 16, Enumerable.Repeat(1.0, 16).ToArray()));
        }

        var x = randn(5, 8);
        var before = model.forward(x).detach();
        var config = new SaraConfig { Threshold = 0.5, Form = form, LoraAlpha = 4, TargetModules = TargetModules.FromNames("fc1", "fc2") };
        var peft = PeftModel.Create(model, config);
        Assert.Equal([1, 8], peft.AdaptedModules.Select(m => m.Layer.GetPath("default").Rank));
        TestUtil.AssertClose(model.forward(x).detach(), before, 0, 0);

        using (no_grad())
        {
            foreach (var p in peft.GetTrainableParameters())
            {
                p.add_(randn_like(p) * 0.1);
            }
        }

        model.eval();
        var trained = model.forward(x).detach();
        peft.SavePretrained(_temp.FullName);
        var saved = (SaraConfig)AdapterConfigFile.Read(Path.Combine(_temp.FullName, "adapter_config.json"));
        Assert.Equal(new Dictionary<string, int> { ["fc1"] = 1, ["fc2"] = 8 }, saved.RankPattern);

        // Reloading takes the ranks from the file, not from a new SVD of (here different) weights.
        manual_seed(3);
        var other = new Mlp(8, 16, 3);
        var reloaded = PeftModel.FromPretrained(other, _temp.FullName);
        Assert.Equal([1, 8], reloaded.AdaptedModules.Select(m => m.Layer.GetPath("default").Rank));

        var unmerged = trained;
        peft.MergeAdapter();
        TestUtil.AssertClose(model.forward(x).detach(), unmerged, 1e-5, 1e-5);
        peft.UnmergeAdapter();
        var exported = peft.ExportPlainLora(Path.Combine(_temp.FullName, "lora"));
        Assert.Equal((1, 8), (exported.RankFor("fc1"), exported.RankFor("fc2")));
    }

    [Fact]
    public void MoSaraTrainsOnlySingularValueSetsAndTheRouter()
    {
        manual_seed(4);
        var model = new Mlp(8, 16, 3);
        var config = new MoSaraConfig { Threshold = 0.6, NumSets = 3, TargetModules = TargetModules.FromNames("fc1", "fc2") };
        var x = randn(7, 8);
        var before = model.forward(x).detach();
        var peft = PeftModel.Create(model, config);
        var ranks = peft.AdaptedModules.Select(m => m.Layer.GetPath("default").Rank).ToList();
        Assert.Equal(ranks.Sum(k => 3 * k + k * 3), peft.GetParameterReport().Trainable);
        TestUtil.AssertClose(model.forward(x).detach(), before, 0, 0);

        var path = (MoSaraPath)peft.AdaptedModules[0].Layer.GetPath("default");
        TestUtil.AssertClose(matmul(path.A, path.A.t()), eye(path.Rank), 1e-5, 1e-5); // SVD bases are orthonormal
        using (no_grad())
        {
            path.Lambda.normal_();
        }

        model.forward(x).sum().backward();
        Assert.NotNull(path.Lambda.grad);
        Assert.NotNull(path.Router.grad);
        Assert.True(path.Router.grad!.abs().sum().item<float>() > 0, "the router learns once Λ is non-zero");
        Assert.False(path.A.requires_grad);
        Assert.Null(model.get_parameter("fc1.base_layer.weight")!.grad);

        var withVector = new MoSaraConfig { Threshold = 0.6, NumSets = 3, OutputVector = true, TargetModules = TargetModules.FromNames("fc1") };
        manual_seed(4);
        var second = PeftModel.Create(new Mlp(8, 16, 3), withVector);
        var k = second.AdaptedModules[0].Layer.GetPath("default").Rank;
        Assert.Equal(3 * k + k * 3 + 16, second.GetParameterReport().Trainable);
    }

    [Fact]
    public void MoSaraMergesOnlyAfterCalibrationAndASingleSetMergesExactly()
    {
        manual_seed(5);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, new MoSaraConfig { Threshold = 0.6, NumSets = 1, OutputVector = true, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        using (no_grad())
        {
            foreach (var p in peft.GetTrainableParameters())
            {
                p.normal_();
            }
        }

        model.eval();
        var x = randn(6, 8);
        var expected = model.forward(x).detach();
        var error = Assert.Throws<InvalidOperationException>(() => peft.MergeAdapter());
        Assert.Contains("cannot be merged", error.Message);
        var tokens = MoSara.CalibrateRouting(peft, () => model.forward(x).Dispose());
        Assert.Equal(6, tokens);
        peft.MergeAdapter();
        TestUtil.AssertClose(model.forward(x).detach(), expected, 1e-4, 1e-5);
    }

    [Fact]
    public void MoSaraSavesItsFrozenBasesAndReloadsIdentically()
    {
        manual_seed(6);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, new MoSaraConfig { Threshold = 0.6, NumSets = 2, Basis = MoSaraBasis.Random, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        using (no_grad())
        {
            foreach (var p in peft.GetTrainableParameters())
            {
                p.normal_();
            }
        }

        model.eval();
        var x = randn(4, 8);
        var expected = model.forward(x).detach();
        peft.SavePretrained(_temp.FullName);
        manual_seed(6);
        var fresh = new Mlp(8, 16, 3);
        PeftModel.FromPretrained(fresh, _temp.FullName);
        fresh.eval();
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 0, 0);

        File.WriteAllText(Path.Combine(_temp.FullName, "adapter_config.json"), """{"peft_type": "MOSARA", "target_modules": ["fc1"], "basis": "sparse"}""");
        var bad = Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(Path.Combine(_temp.FullName, "adapter_config.json")));
        Assert.Contains("basis", bad.Message);
    }
}
