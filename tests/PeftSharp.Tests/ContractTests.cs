using PeftSharp.Adapters;
using PeftSharp.Training;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// The adapter contract, checked for every registered method (and variant) with no per-method code:
/// each case injects the method's own training preset into <see cref="ContractModel"/>.
/// </summary>
public sealed class ContractTests
{
    /// <summary>Every registered method with each of its contract variants (LoRA's include DoRA).</summary>
    public static TheoryData<string, string> Methods()
    {
        var data = new TheoryData<string, string>();
        foreach (var method in AdapterMethodRegistry.All)
        {
            foreach (var (variant, _) in method.ContractVariants())
            {
                data.Add(method.Name, variant);
            }
        }

        return data;
    }

    /// <summary>The variant's settings aimed at the model's query and value projections, the classifier trained in full.</summary>
    private static AdapterConfig Preset(string method, string variant)
    {
        var config = AdapterMethodRegistry.Find(method)!.ContractVariants().Single(v => v.Name == variant).Config;
        config.TargetModules = TargetModules.FromNames("query", "value");
        config.ModulesToSave = ["classifier"];
        return config;
    }

    private static (ContractModel Model, PeftModel Peft) Inject(string method, string variant, long seed = 7)
    {
        manual_seed(seed);
        var model = new ContractModel();
        var peft = PeftModel.Create(model, Preset(method, variant), generator: new Generator((ulong)seed));
        return (model, peft);
    }

    /// <summary>Moves every trainable adapter tensor away from its (often identity) initial value.</summary>
    private static void Perturb(PeftModel peft, long seed = 3)
    {
        var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var module in peft.AdaptedModules)
        {
            foreach (var parameter in module.Layer.GetPath(peft.ActiveAdapter).parameters().Where(p => p.requires_grad))
            {
                parameter.add_(randn(parameter.shape, generator: generator) * 0.2);
            }
        }
    }

    private static Tensor Input(long seed = 5) => randn([4, 6, 12], generator: new Generator((ulong)seed));

    private static Tensor Forward(nn.Module model, Tensor x)
    {
        model.eval();
        using var noGrad = no_grad();
        return ((nn.Module<Tensor, Tensor>)model).forward(x).detach();
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void ConfigSurvivesAJsonRoundTrip(string method, string variant)
    {
        var config = Preset(method, variant);
        var json = AdapterConfigFile.ToJson(config);
        var dir = Directory.CreateTempSubdirectory("contract-json").FullName;
        File.WriteAllText(Path.Combine(dir, AdapterConfigFile.FileName), json);
        var read = AdapterConfigFile.Read(Path.Combine(dir, AdapterConfigFile.FileName));
        Assert.Equal(config.GetType(), read.GetType());
        Assert.Equal(json, AdapterConfigFile.ToJson(read));
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void SavedAdapterLoadsIntoAFreshModelWithIdenticalOutputs(string method, string variant)
    {
        var (model, peft) = Inject(method, variant);
        Perturb(peft);
        var x = Input();
        var expected = Forward(model, x);
        var dir = Directory.CreateTempSubdirectory("contract-save").FullName;
        peft.SavePretrained(dir);

        manual_seed(7);
        var fresh = new ContractModel();
        fresh.load_state_dict(model.state_dict().Where(kv => !kv.Key.Contains(".default", StringComparison.Ordinal) && !kv.Key.Contains("modules_to_save", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key.Replace(".base_layer", string.Empty, StringComparison.Ordinal).Replace(".original_module", string.Empty, StringComparison.Ordinal), kv => kv.Value), strict: false);
        var loaded = PeftModel.FromPretrained(fresh, dir);
        TestUtil.AssertClose(Forward(fresh, x), expected, 1e-5, 1e-6);
        Assert.NotNull(loaded);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void MergedEqualsUnmergedAndUnmergeRestoresTheBase(string method, string variant)
    {
        var (model, peft) = Inject(method, variant);
        Perturb(peft);
        var x = Input();
        var weights = peft.AdaptedModules.Select(m => m.Layer.Target.Weight.detach().clone()).ToList();
        var unmerged = Forward(model, x);
        var mergeable = peft.AdaptedModules.All(m => m.Layer.GetPath(peft.ActiveAdapter).SupportsMerge);
        if (!mergeable)
        {
            // A path whose increment depends on the input refuses to merge, and nothing changes.
            Assert.ThrowsAny<InvalidOperationException>(() => peft.MergeAdapter());
            peft.UnmergeAdapter();
            TestUtil.AssertClose(Forward(model, x), unmerged, 0, 0);
            return;
        }

        peft.MergeAdapter();
        TestUtil.AssertClose(Forward(model, x), unmerged, 1e-4, 1e-5);
        peft.UnmergeAdapter();
        for (var i = 0; i < weights.Count; i++)
        {
            TestUtil.AssertClose(peft.AdaptedModules[i].Layer.Target.Weight.detach(), weights[i], 1e-5, 1e-6);
        }

        TestUtil.AssertClose(Forward(model, x), unmerged, 1e-5, 1e-6);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void PlainLoraFormReproducesTheDeltaWeight(string method, string variant)
    {
        var (_, peft) = Inject(method, variant);
        Perturb(peft);
        foreach (var module in peft.AdaptedModules)
        {
            var path = module.Layer.GetPath(peft.ActiveAdapter);
            if (!path.SupportsMerge)
            {
                continue;
            }

            if (path.PlainLoraExportProblem is { } problem)
            {
                Assert.Throws<NotPlainLoraException>(() => path.ToPlainLora());
                continue;
            }

            var factors = path.ToPlainLora();
            var rebuilt = factors.B.to(ScalarType.Float32).matmul(factors.A.to(ScalarType.Float32)) * factors.Scaling;
            TestUtil.AssertClose(rebuilt, path.DeltaWeight(), 1e-4, 1e-6);
        }
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void DisabledAdaptersGiveTheBaseOutput(string method, string variant)
    {
        manual_seed(7);
        var reference = new ContractModel();
        var x = Input();
        var baseOutput = Forward(reference, x);
        var (model, peft) = Inject(method, variant);
        Perturb(peft);
        Assert.False(Forward(model, x).allclose(baseOutput), "the perturbed adapter should change the output");
        using (peft.DisableAdapters())
        {
            TestUtil.AssertClose(Forward(model, x), baseOutput, 1e-6, 1e-7);
        }
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void OnlyAdapterTensorsGetGradients(string method, string variant)
    {
        var (model, peft) = Inject(method, variant);
        Perturb(peft);
        model.train();
        var trainable = peft.GetTrainableParameters().ToHashSet();
        var controllerOwned = peft.GetController()?.OwnedParameters ?? [];
        var loss = model.forward(Input()).pow(2).mean();
        if (peft.GetController()?.ExtraLoss(0) is { } extra)
        {
            loss = loss + extra;
        }

        loss.backward();
        foreach (var (name, parameter) in model.named_parameters())
        {
            var isAdapter = trainable.Contains(parameter) || controllerOwned.Contains(parameter);
            if (!isAdapter)
            {
                Assert.False(parameter.requires_grad, $"{name} is not an adapter tensor but requires grad");
                Assert.True(parameter.grad is null, $"{name} is frozen but got a gradient");
            }
        }

        Assert.Contains(trainable.Concat(controllerOwned), p => p.grad is not null && p.grad.abs().sum().item<float>() > 0);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void ControllerStateSurvivesARoundTrip(string method, string variant)
    {
        var (model, peft) = Inject(method, variant);
        var controller = peft.GetController();
        if (controller is null)
        {
            return;
        }

        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-2);
        model.train();
        for (var step = 1; step <= 3; step++)
        {
            controller.OnStepBegin(step);
            var loss = model.forward(Input(step)).pow(2).mean();
            if (controller.ExtraLoss(step) is { } extra)
            {
                loss = loss + extra;
            }

            loss.backward();
            controller.OnAfterBackward(step);
            optimizer.step();
            controller.OnOptimizerStep(step, 1e-2, 1.0);
            controller.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
        }

        var state = controller.GetState();
        var (_, other) = Inject(method, variant, seed: 99);
        var otherController = other.GetController()!;
        otherController.LoadState(state);
        var again = otherController.GetState();
        Assert.Equal(state.Values.OrderBy(kv => kv.Key), again.Values.OrderBy(kv => kv.Key));
        Assert.Equal(state.Tensors.Keys.Order(), again.Tensors.Keys.Order());
        foreach (var (key, tensor) in state.Tensors)
        {
            Assert.True(TestUtil.Identical(tensor, again.Tensors[key]), $"controller tensor {key} changed in the round trip");
        }
    }

    /// <summary>A few steps of the training loop on the contract model; with <paramref name="stopAfter"/>, interrupted there (checkpoint saved).</summary>
    private static Dictionary<string, Tensor> Train(string method, string variant, string output, bool resume = false, int? stopAfter = null)
    {
        var (model, peft) = Inject(method, variant);
        var options = new TrainerOptions
        {
            MaxSteps = 6, SaveEvery = 3, StopAfterSteps = stopAfter, LearningRate = 1e-2, WarmupSteps = 1, Seed = 11,
            OutputDirectory = output, LogEvery = 100,
        };
        var task = new LossTask(model, 4, (epoch, batch) =>
        {
            var generator = new Generator((ulong)((epoch * 100) + batch + 1));
            return (randn([4, 6, 12], generator: generator), randint(0, 3, [4], generator: generator));
        }, (logits, target) => nn.functional.cross_entropy(logits, target));
        new TrainingLoop(task, options, ParameterGroups.ForAdapter(peft, options), peft, TextWriter.Null).Run(resume);
        return peft.AdapterStateDict(peft.ActiveAdapter).ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void AnInterruptedRunResumesToTheUninterruptedResult(string method, string variant)
    {
        var root = Directory.CreateTempSubdirectory("contract-resume").FullName;
        var straight = Train(method, variant, Path.Combine(root, "straight"));
        Train(method, variant, Path.Combine(root, "resumed"), stopAfter: 3);
        var resumed = Train(method, variant, Path.Combine(root, "resumed"), resume: true);
        Assert.Equal(straight.Keys.Order(), resumed.Keys.Order());
        foreach (var (key, tensor) in straight)
        {
            Assert.True(TestUtil.Identical(tensor, resumed[key]), $"{key} differs after resuming");
        }

        Assert.Contains(straight, kv => !kv.Key.Contains("classifier", StringComparison.Ordinal) && kv.Value.abs().sum().item<float>() > 0);
    }
}
