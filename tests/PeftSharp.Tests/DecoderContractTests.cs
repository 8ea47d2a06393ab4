using PeftSharp.Adapters;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// The adapter contract on decoders, for every registered method and variant with no per-method code:
/// each case adapts every linear layer of a tiny Llama (GQA) or Phi-3 (fused projections), trains a few
/// steps on the next-token loss, and checks save → reload, merge and gradients.
/// </summary>
public sealed class DecoderContractTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-decoder-contract-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>Every registered method with each of its contract variants, on each tiny decoder.</summary>
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var architecture in new[] { "llama", "phi3" })
        {
            foreach (var method in AdapterMethodRegistry.All)
            {
                foreach (var (variant, _) in method.ContractVariants())
                {
                    data.Add(architecture, method.Name, variant);
                }
            }
        }

        return data;
    }

    /// <summary>Every registered method that trains, on each tiny decoder.</summary>
    public static TheoryData<string, string> Presets()
    {
        var data = new TheoryData<string, string>();
        foreach (var architecture in new[] { "llama", "phi3" })
        {
            foreach (var method in AdapterMethodRegistry.All.Where(m => m.CreateTrainingConfig(10, AdapterTask.CausalLanguageModeling) is not null))
            {
                data.Add(architecture, method.Name);
            }
        }

        return data;
    }

    private static AdapterConfig Variant(string method, string variant)
    {
        var config = AdapterMethodRegistry.Find(method)!.ContractVariants().Single(v => v.Name == variant).Config;
        config.TargetModules = TargetModules.AllLinear;
        config.TaskType = "CAUSAL_LM";
        return config;
    }

    /// <summary>The linear layers a decoder of <paramref name="architecture"/> has per layer.</summary>
    private static string[] LinearNames(string architecture) => architecture == "phi3"
        ? ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"]
        : ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    private static Tensor Logits(DecoderForCausalLM model, Tensor ids)
    {
        model.eval();
        using var noGrad = no_grad();
        return model.Forward(ids).detach();
    }

    private static double Loss(DecoderForCausalLM model, Tensor ids)
    {
        using var scope = NewDisposeScope();
        return CausalLmLoss.Compute(Logits(model, ids), ids).item<float>();
    }

    /// <summary>A few steps of the training loop on one fixed batch (next-token loss, every token supervised).</summary>
    private void Train(DecoderForCausalLM model, PeftModel peft, Tensor ids, int steps, double learningRate)
    {
        var options = new TrainerOptions
        {
            MaxSteps = steps, LearningRate = learningRate, WarmupSteps = 0, Seed = 3, WeightDecay = 0,
            OutputDirectory = Path.Combine(_temp.FullName, "run-" + Guid.NewGuid().ToString("N")), LogEvery = 1000,
        };
        var task = new LossTask(new DecoderLogits(model), 1, (_, _) => (ids, ids), CausalLmLoss.Compute);
        new TrainingLoop(task, options, ParameterGroups.ForAdapter(peft, options), peft, TextWriter.Null).Run(resume: false);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryVariantTrainsSavesReloadsAndMergesOnADecoder(string architecture, string method, string variant)
    {
        var model = ContractDecoders.Create(architecture);
        var baseState = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        model.NameOrPath = "tiny-" + architecture;
        var peft = PeftModel.Create(model, Variant(method, variant), generator: new Generator(11));

        // Every linear layer of attention and MLP is adapted, the head is not.
        var expectedModules = Enumerable.Range(0, 2).SelectMany(l => LinearNames(architecture).Select(n => $"model.layers.{l}.{n}")).Order(StringComparer.Ordinal);
        Assert.Equal(expectedModules, peft.ModulesOf(peft.ActiveAdapter).Select(m => m.Name).Order(StringComparer.Ordinal));

        // Only adapter tensors get gradients.
        var ids = ContractDecoders.Ids();
        model.train();
        var trainable = peft.GetTrainableParameters().ToHashSet();
        var owned = peft.GetController()?.OwnedParameters ?? [];
        using (var scope = NewDisposeScope())
        {
            CausalLmLoss.Compute(model.Forward(ids), ids).backward();
            foreach (var (name, parameter) in model.named_parameters())
            {
                if (!trainable.Contains(parameter) && !owned.Contains(parameter))
                {
                    Assert.False(parameter.requires_grad, $"{name} is not an adapter tensor but requires grad");
                    Assert.True(parameter.grad is null, $"{name} is frozen but got a gradient");
                }
            }

            Assert.Contains(trainable.Concat(owned), p => p.grad is not null && p.grad.abs().sum().item<float>() > 0);
            foreach (var parameter in trainable.Concat(owned))
            {
                parameter.grad?.zero_();
            }
        }

        // A few steps lower the next-token loss.
        var before = Loss(model, ids);
        Train(model, peft, ids, steps: 6, learningRate: 2e-2);
        var after = Loss(model, ids);
        Assert.True(after < before - 1e-4, $"training did not lower the loss: {before} → {after}");

        // Save, reload into a fresh decoder: the same logits.
        var expected = Logits(model, ids);
        var dir = Path.Combine(_temp.FullName, "adapter");
        peft.SavePretrained(dir);
        var saved = AdapterConfigFile.Read(Path.Combine(dir, AdapterConfigFile.FileName));
        Assert.Equal("CAUSAL_LM", saved.TaskType);
        Assert.Equal("tiny-" + architecture, saved.BaseModelNameOrPath);

        // all-linear is written as PEFT writes it: resolved to the projections' names.
        Assert.Equal(LinearNames(architecture).Select(n => n[(n.IndexOf('.') + 1)..]).Order(StringComparer.Ordinal), saved.TargetModules!.Names.Order(StringComparer.Ordinal));
        var fresh = ContractDecoders.Create(architecture, seed: 99);
        fresh.load_state_dict(baseState);
        PeftModel.FromPretrained(fresh, dir);
        TestUtil.AssertClose(Logits(fresh, ids), expected, 1e-5, 1e-5);

        // Merged = unmerged (or merge refused and nothing changed).
        if (peft.AdaptedModules.All(m => m.Layer.GetPath(peft.ActiveAdapter).SupportsMerge))
        {
            peft.MergeAdapter();
            TestUtil.AssertClose(Logits(model, ids), expected, 1e-4, 1e-4);
            peft.UnmergeAdapter();
        }
        else
        {
            Assert.ThrowsAny<InvalidOperationException>(() => peft.MergeAdapter());
        }

        TestUtil.AssertClose(Logits(model, ids), expected, 1e-5, 1e-5);
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void CausalLmPresetsTargetEveryProjectionAndTrain(string architecture, string method)
    {
        var info = AdapterMethodRegistry.Find(method)!;
        var config = info.CreateTrainingConfig(20, AdapterTask.CausalLanguageModeling)!;
        Assert.Equal("CAUSAL_LM", config.TaskType);
        Assert.Null(config.ModulesToSave);
        Assert.NotNull(info.RecommendedLearningRate(AdapterTask.CausalLanguageModeling));

        Assert.Equal(TargetModulesKind.AllLinear, config.TargetModules!.Kind);

        // The encoder preset stays what it was: query and value, classifier and pooler in full, SEQ_CLS.
        var encoder = info.CreateTrainingConfig(20, AdapterTask.SequenceClassification)!;
        Assert.Equal("SEQ_CLS", encoder.TaskType);
        Assert.Equal(["query", "value"], encoder.TargetModules!.Names);
        Assert.Equal(["classifier", "pooler"], encoder.ModulesToSave);
        Assert.Null(info.RecommendedLearningRate(AdapterTask.SequenceClassification));

        var model = ContractDecoders.Create(architecture);
        var peft = PeftModel.Create(model, config, generator: new Generator(11));
        Assert.Equal(2 * LinearNames(architecture).Length, peft.ModulesOf(peft.ActiveAdapter).Count);
        var ids = ContractDecoders.Ids();
        var before = Loss(model, ids);
        Train(model, peft, ids, steps: 8, learningRate: 10 * info.RecommendedLearningRate(AdapterTask.CausalLanguageModeling)!.Value);
        Assert.True(Loss(model, ids) < before - 1e-4, $"{method}: the causal-LM preset did not lower the loss");
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void EveryPresetTrainsFp32AdaptersOnABf16Base(string architecture, string method)
    {
        var info = AdapterMethodRegistry.Find(method)!;
        var model = ContractDecoders.Create(architecture);
        model.to(ScalarType.BFloat16);
        var peft = PeftModel.Create(model, info.CreateTrainingConfig(8, AdapterTask.CausalLanguageModeling)!, generator: new Generator(11));
        Assert.All(peft.GetTrainableParameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(peft.AdaptedModules, m => Assert.Equal(ScalarType.BFloat16, m.Layer.Target.Weight.dtype));
        var ids = ContractDecoders.Ids();
        var before = Loss(model, ids);
        Train(model, peft, ids, steps: 8, learningRate: 10 * info.RecommendedLearningRate(AdapterTask.CausalLanguageModeling)!.Value);
        Assert.True(Loss(model, ids) < before - 1e-3, $"{method}: training on a bf16 base did not lower the loss");
        Assert.All(peft.AdaptedModules, m => Assert.Equal(ScalarType.BFloat16, m.Layer.Target.Weight.dtype));
    }
}
