using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Methods.TiedLora;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>L blocks, each with a fused qkv projection d → 3d and an output projection 3d → d.</summary>
internal sealed class QkvStack : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<QkvBlock> layers;

    public QkvStack(int layerCount, int d) : base(nameof(QkvStack))
    {
        layers = new ModuleList<QkvBlock>([.. Enumerable.Range(0, layerCount).Select(_ => new QkvBlock(d))]);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var h = input;
        foreach (var layer in layers)
        {
            h = layer.forward(h);
        }

        return h.MoveToOuterDisposeScope();
    }
}

internal sealed class QkvBlock : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> qkv;
    private readonly nn.Module<Tensor, Tensor> proj;

    public QkvBlock(int d) : base(nameof(QkvBlock))
    {
        qkv = nn.Linear(d, 3 * d);
        proj = nn.Linear(3 * d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => input + proj.forward(nn.functional.tanh(qkv.forward(input)));
}

public sealed class TiedLoraTests : IDisposable
{
    private const int L = 3, D = 16, R = 4;
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-tied-");

    public void Dispose() => _temp.Delete(recursive: true);

    private static TiedLoraConfig Preset(string name, params string[] targets)
    {
        var config = TiedLoraConfig.FromPreset(name, R);
        config.TargetModules = TargetModules.FromNames(targets.Length == 0 ? ["qkv"] : targets);
        return config;
    }

    [Theory]
    [InlineData("TL1", 4 * D * R)]
    [InlineData("TL2", 4 * D * R + L * R)]
    [InlineData("TL3", 4 * D * R + 3 * L * D)]
    [InlineData("TL4", 3 * D * R + L * (R + 3 * D))]
    [InlineData("TL5", D * R + L * (R + 3 * D))]
    [InlineData("TL6", 4 * D * R + L * (R + 3 * D))]
    [InlineData("VeRA", L * (R + 3 * D))]
    public void PresetsHaveTheSpecsParameterCountsAndStartAtTheBaseOutput(string preset, int expected)
    {
        manual_seed(1);
        var model = new QkvStack(L, D);
        var x = randn(5, D);
        var before = model.forward(x).detach();
        var config = Preset(preset);
        var peft = PeftModel.Create(model, config);
        Assert.Equal(expected, peft.GetParameterReport().Trainable);
        Assert.Equal(expected, config.TrainableParameters(L, D, 3 * D));
        TestUtil.AssertClose(model.forward(x).detach(), before, 0, 0);
        var lora = PeftModel.Create(new QkvStack(L, D), new LoraConfig { R = R, TargetModules = TargetModules.FromNames("qkv") });
        Assert.Equal(4 * L * D * R, lora.GetParameterReport().Trainable);
    }

    private static void Randomise(PeftModel peft)
    {
        using var noGrad = no_grad();
        foreach (var path in peft.AdaptedModules.Select(m => (TiedLoraPath)m.Layer.GetPath("default")))
        {
            path.U.normal_();
            path.V.normal_();
        }
    }

    [Fact]
    public void TheSharedGradientIsTheSumOfTheUntiedCopiesGradients()
    {
        manual_seed(2);
        var tiedModel = new QkvStack(L, D);
        var tied = PeftModel.Create(tiedModel, Preset("TL6"));
        Randomise(tied);
        var paths = tied.AdaptedModules.Select(m => (TiedLoraPath)m.Layer.GetPath("default")).ToList();
        Assert.All(paths, p => Assert.Same(paths[0].Pair, p.Pair));
        Assert.Single(tied.GetTrainableParameters(), p => ReferenceEquals(p, paths[0].Pair.A));

        var untiedModel = new QkvStack(L, D);
        untiedModel.load_state_dict(tiedModel.state_dict().Where(kv => kv.Key.Contains("base_layer") || kv.Key.Contains("proj")).ToDictionary(kv => kv.Key.Replace(".base_layer", ""), kv => kv.Value));
        var untiedConfig = Preset("TL6");
        untiedConfig.TieAB = false;
        var untied = PeftModel.Create(untiedModel, untiedConfig);
        var copies = untied.AdaptedModules.Select(m => (TiedLoraPath)m.Layer.GetPath("default")).ToList();
        Assert.Equal(3, copies.Select(c => c.Pair).Distinct().Count());
        using (no_grad())
        {
            for (var i = 0; i < L; i++)
            {
                copies[i].Pair.A.copy_(paths[i].Pair.A);
                copies[i].Pair.B.copy_(paths[i].Pair.B);
                copies[i].U.copy_(paths[i].U);
                copies[i].V.copy_(paths[i].V);
            }
        }

        var x = randn(6, D);
        TestUtil.AssertClose(untiedModel.forward(x).detach(), tiedModel.forward(x).detach(), 1e-5, 1e-6);
        tiedModel.forward(x).square().sum().backward();
        untiedModel.forward(x).square().sum().backward();
        TestUtil.AssertClose(paths[0].Pair.A.grad!, copies.Select(c => c.Pair.A.grad!).Aggregate((a, b) => a + b), 1e-4, 1e-5);
        TestUtil.AssertClose(paths[0].Pair.B.grad!, copies.Select(c => c.Pair.B.grad!).Aggregate((a, b) => a + b), 1e-4, 1e-5);
    }

    [Fact]
    public void TheNativeCheckpointStoresTheTiedPairOnceAndReloadsTied()
    {
        manual_seed(3);
        var model = new QkvStack(L, D);
        var peft = PeftModel.Create(model, Preset("TL6"));
        Randomise(peft);
        model.eval();
        var x = randn(4, D);
        var expected = model.forward(x).detach();
        peft.SavePretrained(_temp.FullName);
        using (var file = SafetensorsFile.Open(Path.Combine(_temp.FullName, "adapter_model.safetensors")))
        {
            var names = file.Entries.Select(e => e.Name).ToList();
            Assert.Single(names, n => n.EndsWith("lora_A", StringComparison.Ordinal));
            Assert.Contains($"base_model.tied_lora.qkv.{D}x{3 * D}.lora_A", names);
            Assert.Equal(L, names.Count(n => n.EndsWith(".lora_v", StringComparison.Ordinal)));
        }

        manual_seed(3);
        var fresh = new QkvStack(L, D);
        var loaded = PeftModel.FromPretrained(fresh, _temp.FullName, isTrainable: true);
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 0, 0);
        var pairs = loaded.AdaptedModules.Select(m => ((TiedLoraPath)m.Layer.GetPath("default")).Pair).Distinct().ToList();
        Assert.Single(pairs);
    }

    [Fact]
    public void ThePerLayerPlainLoraExportAndTheMergeReproduceTheTiedForward()
    {
        manual_seed(4);
        var model = new QkvStack(L, D);
        var config = Preset("TL6");
        config.ScaleByAlphaOverR = true;
        config.LoraAlpha = 2;
        var peft = PeftModel.Create(model, config);
        Randomise(peft);
        model.eval();
        var x = randn(4, D);
        var expected = model.forward(x).detach();
        var exported = peft.ExportPlainLora(_temp.FullName);
        Assert.Equal((R, (double)R), (exported.R, exported.LoraAlpha));
        manual_seed(4);
        var fresh = new QkvStack(L, D);
        PeftModel.FromPretrained(fresh, _temp.FullName);
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-5);
        peft.MergeAdapter();
        TestUtil.AssertClose(model.forward(x).detach(), expected, 1e-5, 1e-5);
    }

    [Fact]
    public void ModulesOfDifferentShapesGetSeparatePairsAndVeraSlicesOne()
    {
        manual_seed(5);
        var model = new QkvStack(2, D);
        var peft = PeftModel.Create(model, Preset("TL6", "qkv", "proj"));
        var keys = peft.AdaptedModules.Select(m => ((TiedLoraPath)m.Layer.GetPath("default")).Pair.Key).Distinct().Order().ToList();
        Assert.Equal([$"tied_lora.proj.{3 * D}x{D}", $"tied_lora.qkv.{D}x{3 * D}"], keys);

        var vera = PeftModel.Create(new QkvStack(2, D), Preset("VeRA", "qkv", "proj"));
        var pair = Assert.Single(vera.AdaptedModules.Select(m => ((TiedLoraPath)m.Layer.GetPath("default")).Pair).Distinct());
        Assert.Equal([(long)R, 3 * D], pair.A.shape);
        Assert.Equal([3L * D, R], pair.B.shape);
        Assert.False(pair.A.requires_grad);
    }

    [Fact]
    public void AVeraPresetRunExportsPeftVeraFilesWithTheSameFunction()
    {
        manual_seed(6);
        var model = new QkvStack(2, D);
        var peft = PeftModel.Create(model, Preset("VeRA", "qkv", "proj"));
        Randomise(peft);
        model.eval();
        peft.ExportVera(_temp.FullName);
        var json = ConfigJson.Load(Path.Combine(_temp.FullName, "adapter_config.json"));
        Assert.Equal("VERA", json.String("peft_type"));
        Assert.Equal(0.1, json.Double("d_initial", 0));
        var tensors = SafetensorsFile.ReadAll(Path.Combine(_temp.FullName, "adapter_model.safetensors"));
        var a = tensors["base_model.vera_A"];
        var b = tensors["base_model.vera_B"];
        Assert.Equal([(long)R, 3 * D], a.shape);

        // PEFT's VeRA increment from the files alone: (λ_b ⊙ B[:out]) · (λ_d ⊙ A[:, :in]).
        foreach (var module in peft.AdaptedModules)
        {
            var path = (TiedLoraPath)module.Layer.GetPath("default");
            var lb = tensors[$"base_model.model.{module.Name}.vera_lambda_b"];
            var ld = tensors[$"base_model.model.{module.Name}.vera_lambda_d"];
            var delta = matmul(b[..path.OutFeatures, ..] * lb.unsqueeze(1), a[.., ..path.InFeatures] * ld.unsqueeze(1));
            TestUtil.AssertClose(path.DeltaWeight(), delta, 1e-5, 1e-6);
        }

        var tl6 = PeftModel.Create(new QkvStack(2, D), Preset("TL6"));
        Assert.Throws<InvalidOperationException>(() => tl6.ExportVera(_temp.FullName));
    }
}
