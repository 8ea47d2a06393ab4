using PeftSharp.Layers;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class LoraLayerTests
{
    private static AdapterLayer Wrap(nn.Module<Tensor, Tensor> linear, LoraPath path, string name = "default")
    {
        var layer = new AdapterLayer(linear);
        layer.AddPath(name, path);
        layer.SetActiveAdapters([name]);
        return layer;
    }

    [Fact]
    public void ZeroInitBGivesExactlyTheBaseOutput()
    {
        manual_seed(1);
        var linear = nn.Linear(12, 7);
        var x = randn(5, 12);
        var expected = linear.forward(x).detach();
        var layer = Wrap(linear, new LoraPath(12, 7, 4, 8));
        var actual = layer.forward(x);
        Assert.True(TestUtil.Identical(actual, expected), "B = 0 must reproduce the base output bit for bit");
    }

    [Fact]
    public void ForwardMatchesAnIndependentFormula()
    {
        manual_seed(2);
        var linear = nn.Linear(10, 6);
        var path = new LoraPath(10, 6, 3, alpha: 6, init: LoraInit.Random);
        var layer = Wrap(linear, path);
        var x = randn(4, 10, dtype: ScalarType.Float64).to(ScalarType.Float32);
        var w = linear.weight!.detach().to(ScalarType.Float64);
        var b = linear.bias!.detach().to(ScalarType.Float64);
        var a = path.A.detach().to(ScalarType.Float64);
        var bb = path.B.detach().to(ScalarType.Float64);
        var xd = x.to(ScalarType.Float64);
        var expected = xd.matmul(w.t()) + b + xd.matmul(a.t()).matmul(bb.t()) * (6.0 / 3);
        TestUtil.AssertClose(layer.forward(x), expected, 1e-5, 1e-6);
    }

    [Fact]
    public void KaimingUniformInitOfABoundedByOneOverSqrtIn()
    {
        manual_seed(3);
        var path = new LoraPath(400, 5, 16, 16);
        var bound = 1.0 / Math.Sqrt(400);
        Assert.True(path.A.abs().max().item<float>() <= bound);
        Assert.True(path.A.abs().max().item<float>() > 0.9 * bound, "A should fill its uniform range");
        Assert.Equal(0, path.B.abs().sum().item<float>());
        Assert.Equal(1.0, path.Scaling);
    }

    [Fact]
    public void RsLoraScalesByAlphaOverSqrtR()
    {
        var path = new LoraPath(8, 8, 16, 32, useRslora: true);
        Assert.Equal(32 / 4.0, path.Scaling, 12);
        Assert.Equal(2.0, new LoraPath(8, 8, 16, 32).Scaling, 12);
    }

    [Fact]
    public void GaussianInitUsesStdOneOverR()
    {
        manual_seed(4);
        var path = new LoraPath(2000, 5, 4, 4, init: LoraInit.Gaussian);
        Assert.InRange(path.A.std().item<float>(), 0.24, 0.26);
        Assert.Equal(0, path.B.abs().sum().item<float>());
    }

    [Fact]
    public void MergedOutputEqualsUnmergedAndUnmergeRestoresTheWeight()
    {
        manual_seed(5);
        var linear = nn.Linear(32, 24);
        var original = linear.weight!.detach().clone();
        var layer = Wrap(linear, new LoraPath(32, 24, 8, 16, init: LoraInit.Random));
        layer.eval();
        var x = randn(6, 32);
        using var noGrad = no_grad();
        var unmerged = layer.forward(x);
        layer.Merge();
        Assert.True(layer.IsMerged);
        Assert.False(TestUtil.Identical(layer.Target.Weight, original));
        TestUtil.AssertClose(layer.forward(x), unmerged, 1e-5, 1e-6);
        layer.Unmerge();
        TestUtil.AssertClose(layer.Target.Weight, original, 0, 1e-6);
        TestUtil.AssertClose(layer.forward(x), unmerged, 1e-5, 1e-6);
    }

    [Fact]
    public void MergingTwiceIsSkipped()
    {
        manual_seed(6);
        var layer = Wrap(nn.Linear(8, 8), new LoraPath(8, 8, 2, 2, init: LoraInit.Random));
        Assert.Single(layer.Merge());
        var once = layer.Target.Weight.detach().clone();
        Assert.Empty(layer.Merge());
        Assert.True(TestUtil.Identical(layer.Target.Weight, once));
    }

    [Fact]
    public void SafeMergeRefusesNonFiniteWeightsAndLeavesTheWeightAlone()
    {
        manual_seed(7);
        var path = new LoraPath(8, 8, 2, 2, init: LoraInit.Random);
        var layer = Wrap(nn.Linear(8, 8), path);
        using (no_grad())
        {
            path.B[0, 0] = float.NaN;
        }

        var before = layer.Target.Weight.detach().clone();
        Assert.Throws<InvalidOperationException>(() => layer.Merge(safeMerge: true));
        Assert.False(layer.IsMerged);
        Assert.True(TestUtil.Identical(layer.Target.Weight, before));
    }

    [Fact]
    public void FanInFanOutMergeTransposesTheDelta()
    {
        manual_seed(8);
        var conv = new Conv1D(6, 9);
        var layer = Wrap(conv, new LoraPath(6, 9, 3, 3, init: LoraInit.Random));
        layer.eval();
        var x = randn(4, 6);
        using var noGrad = no_grad();
        var unmerged = layer.forward(x);
        layer.Merge();
        TestUtil.AssertClose(layer.forward(x), unmerged, 1e-5, 1e-6);
        Assert.Equal([6L, 9L], conv.Weight.shape);
    }

    [Fact]
    public void DropoutAppliesToTheAdapterInputOnly()
    {
        manual_seed(9);
        var linear = nn.Linear(16, 16);
        var layer = Wrap(linear, new LoraPath(16, 16, 4, 4, dropout: 0.5, init: LoraInit.Random));
        var x = randn(64, 16);
        var baseOut = linear.forward(x).detach();
        layer.train();
        var a = layer.forward(x).detach();
        var b = layer.forward(x).detach();
        Assert.False(a.allclose(b), "training-mode dropout should make two forwards differ");
        layer.eval();
        var c = layer.forward(x).detach();
        var d = layer.forward(x).detach();
        Assert.True(TestUtil.Identical(c, d));
        Assert.False(c.allclose(baseOut));
        layer.AdaptersDisabled = true;
        Assert.True(TestUtil.Identical(layer.forward(x), baseOut));
    }

    [Fact]
    public void GradientsReachOnlyTheAdapter()
    {
        manual_seed(10);
        var linear = nn.Linear(8, 4);
        var path = new LoraPath(8, 4, 2, 4, init: LoraInit.Random);
        var layer = Wrap(linear, path);
        layer.forward(randn(3, 8)).sum().backward();
        Assert.Null(linear.weight!.grad);
        Assert.Null(linear.bias!.grad);
        Assert.NotNull(path.A.grad);
        Assert.NotNull(path.B.grad);
        Assert.True(path.A.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void BadSizesAndNamesAreRejected()
    {
        var layer = new AdapterLayer(nn.Linear(8, 4));
        Assert.Throws<ArgumentException>(() => layer.AddPath("default", new LoraPath(4, 8, 2, 2)));
        Assert.Throws<ArgumentException>(() => layer.AddPath("base_layer", new LoraPath(8, 4, 2, 2)));
        Assert.Throws<ArgumentException>(() => layer.AddPath("has.dot", new LoraPath(8, 4, 2, 2)));
        Assert.Throws<ArgumentException>(() => new AdapterLayer(nn.ReLU()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoraPath(8, 4, 0, 2));
    }

    [Fact]
    public void PeftTensorNamesAndShapesFollowPeft()
    {
        var path = new LoraPath(10, 6, 3, 3);
        var named = path.NamedAdapterTensors().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal([3L, 10L], named["lora_A.weight"]);
        Assert.Equal([6L, 3L], named["lora_B.weight"]);
    }

    [Fact]
    public void PlainLoraExportReproducesTheDelta()
    {
        manual_seed(11);
        var path = new LoraPath(10, 6, 3, 5, init: LoraInit.Random);
        var plain = path.ToPlainLora();
        TestUtil.AssertClose(plain.B.matmul(plain.A) * plain.Scaling, path.DeltaWeight(), 1e-6, 1e-7);
        Assert.Equal(3, plain.Rank);
    }
}
