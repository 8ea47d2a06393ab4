using PeftSharp.Adapters;
using PeftSharp.Methods.DyLora;
using PeftSharp.Methods.Lora;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class BudgetExportTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-budget-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public void TruncationGivesTheBestRankKApproximationOfTheFullIncrement()
    {
        manual_seed(1);
        var factors = new PlainLoraFactors(randn(6, 20), randn(15, 6), 0.5);
        var full = matmul(factors.B, factors.A) * 0.5;
        var (u, s, vh) = linalg.svd(full.to(ScalarType.Float64), fullMatrices: false);
        Assert.Equal(s[..6].data<double>().ToArray(), LowRankTruncation.SingularValues(factors), (a, b) => Math.Abs(a - b) < 1e-4 * Math.Max(1, Math.Abs(a)));
        var truncated = LowRankTruncation.Truncate(factors, 3);
        Assert.Equal(3, truncated.Rank);
        var reference = matmul(u[.., ..3] * s[..3], vh[..3, ..]).to(ScalarType.Float32);
        TestUtil.AssertClose(matmul(truncated.B, truncated.A) * truncated.Scaling, reference, 1e-4, 1e-4);
    }

    [Fact]
    public void ABudgetKeepsTheLargestComponentsWithinTheParameterCount()
    {
        manual_seed(2);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, new LoraConfig { R = 4, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        using (no_grad())
        {
            foreach (var m in peft.AdaptedModules)
            {
                ((LoraPath)m.Layer.GetPath("default")).B.normal_();
            }

            ((LoraPath)peft.AdaptedModules[1].Layer.GetPath("default")).B.mul_(10); // fc2 matters more
        }

        // fc1 components cost 8 + 16 = 24, fc2's 32; 100 parameters hold three fc2 components (96).
        var ranks = RankBudget.Allocate(peft, 100);
        Assert.Equal(new Dictionary<string, int> { ["fc1"] = 0, ["fc2"] = 3 }, ranks);
        Assert.Equal(96, RankBudget.Parameters(peft, ranks));
        var error = Assert.Throws<PeftConfigurationException>(() => RankBudget.Allocate(peft, 23));
        Assert.Contains("minimum of 24", error.Message);

        var exported = peft.ExportPlainLora(_temp.FullName, maxRanks: ranks);
        Assert.Equal(["fc2"], exported.TargetModules!.Names!);
        Assert.Equal(3, exported.R);
    }

    [Fact]
    public void DyLoraTruncatesToAPrefixWithTheScalingOfThatRank()
    {
        manual_seed(3);
        var model = new Mlp(8, 16, 3);
        var peft = PeftModel.Create(model, new DyLoraConfig { R = 8, LoraAlpha = 16, TargetModules = TargetModules.FromNames("fc1", "fc2") });
        using (no_grad())
        {
            foreach (var p in peft.GetTrainableParameters())
            {
                p.normal_();
            }
        }

        model.eval();
        var x = randn(4, 8);
        var ranks = RankBudget.Allocate(peft, 3 * 24 + 3 * 32);
        Assert.Equal(new Dictionary<string, int> { ["fc1"] = 3, ["fc2"] = 3 }, ranks);
        peft.ExportPlainLora(_temp.FullName, maxRanks: ranks);
        DyLora.SetRank(peft, 3);
        var expected = model.forward(x).detach();
        manual_seed(3);
        var fresh = new Mlp(8, 16, 3);
        PeftModel.FromPretrained(fresh, _temp.FullName);
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-6);
    }
}
