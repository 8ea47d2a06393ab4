using PeftSharp.Adapters;
using PeftSharp.Layers;
using PeftSharp.Methods.Lora;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class DoraTests
{
    private static (AdapterLayer Layer, DoraPath Path) Wrap(nn.Module<Tensor, Tensor> module, int rank = 3, double alpha = 6, LoraInit init = LoraInit.Random, double dropout = 0)
    {
        var layer = new AdapterLayer(module);
        var path = new DoraPath(layer.Target, rank, alpha, dropout, init: init);
        layer.AddPath("default", path);
        layer.SetActiveAdapters(["default"]);
        return (layer, path);
    }

    /// <summary>PEFT's DoRA output in float64, written from the paper's formula, independent of DoraPath.</summary>
    private static Tensor Reference(Tensor x, Tensor w, Tensor? b, DoraPath path)
    {
        var xd = x.to(ScalarType.Float64);
        var updated = w.to(ScalarType.Float64) + path.B.detach().to(ScalarType.Float64).matmul(path.A.detach().to(ScalarType.Float64)) * path.Scaling;
        var scale = path.Magnitude.detach().to(ScalarType.Float64) / updated.pow(2).sum(1).sqrt();
        var y = xd.matmul((updated * scale.unsqueeze(1)).t());
        return b is null ? y : y + b.to(ScalarType.Float64);
    }

    [Fact]
    public void AFreshAdapterGivesTheBaseOutput()
    {
        manual_seed(11);
        var linear = nn.Linear(12, 7);
        var x = randn(5, 12);
        var expected = linear.forward(x).detach();
        var (layer, path) = Wrap(linear, init: LoraInit.Default);
        TestUtil.AssertClose(layer.forward(x), expected, 1e-6, 1e-6);
        TestUtil.AssertClose(path.Magnitude, linear.weight!.detach().pow(2).sum(1).sqrt(), 1e-6, 1e-6);
    }

    [Fact]
    public void ForwardMatchesTheFormulaForLinearAndConv1D()
    {
        manual_seed(12);
        var linear = nn.Linear(10, 6);
        var (layer, path) = Wrap(linear);
        using (no_grad())
        {
            path.Magnitude.mul_(rand(6) + 0.5);
        }

        var x = randn(4, 10);
        TestUtil.AssertClose(layer.forward(x), Reference(x, linear.weight!.detach(), linear.bias!.detach(), path), 1e-5, 1e-5);

        var conv = new Conv1D(10, 6);
        var (convLayer, convPath) = Wrap(conv);
        using (no_grad())
        {
            convPath.Magnitude.mul_(rand(6) + 0.5);
        }

        TestUtil.AssertClose(convLayer.forward(x), Reference(x, conv.Weight.detach().t(), conv.Bias!.detach(), convPath), 1e-5, 1e-5);
    }

    [Fact]
    public void WithoutABiasTheOutputAndGradientsMatchPeftsFormula()
    {
        // A layer without bias takes the short form scale · (x·Wᵀ + s·x·Aᵀ·Bᵀ); check it and its gradients
        // against PEFT's formula in float64, the row norm detached as PEFT does.
        manual_seed(15);
        var linear = nn.Linear(10, 6, hasBias: false);
        var (layer, path) = Wrap(linear);
        using (no_grad())
        {
            path.Magnitude.mul_(rand(6) + 0.5);
        }

        var x = randn(4, 10);
        var weights = randn(4, 6);
        var output = layer.forward(x);
        TestUtil.AssertClose(output, Reference(x, linear.weight!.detach(), null, path), 1e-5, 1e-5);
        (output * weights).sum().backward();

        var a = path.A.detach().to(ScalarType.Float64).requires_grad_();
        var b = path.B.detach().to(ScalarType.Float64).requires_grad_();
        var m = path.Magnitude.detach().to(ScalarType.Float64).requires_grad_();
        var w = linear.weight!.detach().to(ScalarType.Float64);
        var xd = x.to(ScalarType.Float64);
        var norm = (w + b.matmul(a) * path.Scaling).detach().pow(2).sum(1).sqrt();
        var baseOutput = xd.matmul(w.t());
        var reference = baseOutput + (m / norm - 1) * baseOutput + m / norm * xd.matmul(a.t()).matmul(b.t()) * path.Scaling;
        (reference * weights.to(ScalarType.Float64)).sum().backward();
        TestUtil.AssertClose(path.A.grad!, a.grad!.to(ScalarType.Float32), 1e-5, 1e-4);
        TestUtil.AssertClose(path.B.grad!, b.grad!.to(ScalarType.Float32), 1e-5, 1e-4);
        TestUtil.AssertClose(path.Magnitude.grad!, m.grad!.to(ScalarType.Float32), 1e-5, 1e-4);
    }

    [Fact]
    public void MergeEqualsUnmergedAndUnmergeRestoresTheWeight()
    {
        manual_seed(13);
        var linear = nn.Linear(16, 8);
        var original = linear.weight!.detach().clone();
        var (layer, path) = Wrap(linear);
        using (no_grad())
        {
            path.Magnitude.mul_(rand(8) + 0.5);
        }

        var x = randn(3, 16);
        var unmerged = layer.forward(x).detach();
        var delta = path.DeltaWeight();
        layer.Merge();
        TestUtil.AssertClose(layer.forward(x), unmerged, 1e-5, 1e-5);
        TestUtil.AssertClose(linear.weight!.detach() - original, delta, 1e-5, 1e-5);
        layer.Unmerge();
        TestUtil.AssertClose(linear.weight!.detach(), original, 1e-6, 1e-6);
        TestUtil.AssertClose(layer.forward(x), unmerged, 1e-5, 1e-5);

        layer.Merge(safeMerge: true);
        TestUtil.AssertClose(layer.forward(x), unmerged, 1e-5, 1e-5);
        layer.Unmerge();
        TestUtil.AssertClose(linear.weight!.detach(), original, 1e-6, 1e-6);
    }

    [Fact]
    public void GradientsReachTheFactorsAndTheMagnitudeOnly()
    {
        manual_seed(14);
        var linear = nn.Linear(9, 5);
        var (layer, path) = Wrap(linear);
        layer.forward(randn(4, 9)).pow(2).sum().backward();
        Assert.Null(linear.weight!.grad);
        Assert.Null(linear.bias!.grad);
        foreach (var p in new[] { path.A, path.B, path.Magnitude })
        {
            Assert.NotNull(p.grad);
            Assert.True(p.grad!.abs().sum().item<float>() > 0);
        }
    }

    [Fact]
    public void TwoAdaptersSeeTheCleanBaseOutput()
    {
        manual_seed(15);
        var linear = nn.Linear(8, 4);
        var layer = new AdapterLayer(linear);
        var lora = new LoraPath(8, 4, 2, 4, init: LoraInit.Random);
        var dora = new DoraPath(layer.Target, 2, 4, init: LoraInit.Random);
        layer.AddPath("lora", lora);
        layer.AddPath("dora", dora);
        layer.SetActiveAdapters(["lora", "dora"]);
        var x = randn(3, 8);
        var baseOutput = linear.forward(x).detach();
        var expected = Reference(x, linear.weight!.detach(), linear.bias!.detach(), dora) + (lora.forward(x).detach().to(ScalarType.Float64));
        TestUtil.AssertClose(layer.forward(x), expected, 1e-5, 1e-5);
        Assert.NotNull(baseOutput);
    }

    [Fact]
    public void PlainLoraExportIsRefusedWithTheReason()
    {
        var (_, path) = Wrap(nn.Linear(4, 4));
        var error = Assert.Throws<NotPlainLoraException>(() => path.ToPlainLora());
        Assert.Contains("magnitude", error.Message);
        Assert.NotNull(path.PlainLoraExportProblem);
    }

    [Fact]
    public void CheckpointNamesFollowPeft()
    {
        var (_, path) = Wrap(nn.Linear(4, 3));
        Assert.Equal(["lora_A.weight", "lora_B.weight", "lora_magnitude_vector"], path.NamedAdapterTensors().Select(kv => kv.Key));
        Assert.Equal([3L], path.Magnitude.shape);
    }
}
