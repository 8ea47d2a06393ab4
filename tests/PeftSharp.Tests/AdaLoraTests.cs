using PeftSharp.Methods.AdaLora;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class AdaLoraTests
{
    [Fact]
    public void TheBudgetScheduleMatchesTheMnliScriptValues()
    {
        var paths = Enumerable.Range(0, 72).Select(_ => new AdaLoraPath(4, 4, 3, 3, 8)).ToList();
        var allocator = new RankAllocator(paths, initR: 3, targetR: 1, tInit: 8000, tFinal: 50000, deltaT: 100, beta1: 0.85, beta2: 0.85, totalStep: 85904);
        Assert.Equal((216, false), allocator.BudgetSchedule(8000));
        Assert.Equal(215, allocator.BudgetSchedule(8001).Budget);
        Assert.Equal(90, allocator.BudgetSchedule(21952).Budget);
        Assert.Equal(72, allocator.BudgetSchedule(35904).Budget);
        Assert.False(allocator.BudgetSchedule(8050).Mask);
        Assert.True(allocator.BudgetSchedule(8100).Mask);
        Assert.Equal((72, true), allocator.BudgetSchedule(35905));
        Assert.Equal((72, true), allocator.BudgetSchedule(35907));
    }

    [Fact]
    public void MaskingZeroesExactlyTheBudgetCut()
    {
        manual_seed(3);
        var paths = Enumerable.Range(0, 3).Select(_ => new AdaLoraPath(6, 5, 4, 4, 8)).ToList();
        foreach (var path in paths)
        {
            using (no_grad())
            {
                path.E.normal_();
            }
        }

        var allocator = new RankAllocator(paths, initR: 4, targetR: 1, tInit: 1, tFinal: 2, deltaT: 1, beta1: 0.85, beta2: 0.85, totalStep: 10);
        for (var step = 1; step <= 6; step++)
        {
            foreach (var path in paths)
            {
                path.A.grad = randn_like(path.A);
                path.E.grad = randn_like(path.E);
                path.B.grad = randn_like(path.B);
            }

            var (budget, threshold) = allocator.UpdateAndMask(step);
            if (threshold is not null)
            {
                var zeros = paths.Sum(p => p.E.eq(0).sum().item<long>());
                Assert.True(zeros >= 12 - budget, $"step {step}: {zeros} zero singular values, budget {budget}");
            }
        }

        Assert.Equal(3, paths.Sum(p => p.E.ne(0).sum().item<long>()));
    }

    [Fact]
    public void TheBatchedImportanceAndScoresEqualThePerParameterComputation()
    {
        // Modules of several shapes and ranks, so the flat buffers hold several groups per role.
        manual_seed(11);
        var paths = new List<AdaLoraPath> { new(6, 5, 4, 4, 8), new(6, 3, 4, 4, 8), new(7, 5, 2, 4, 8), new(6, 5, 4, 4, 8), new(7, 3, 3, 4, 8) };
        using (no_grad())
        {
            paths.ForEach(p => p.E.normal_());
        }

        const double beta1 = 0.85, beta2 = 0.9;
        var allocator = new RankAllocator(paths, initR: 4, targetR: 1, tInit: 2, tFinal: 2, deltaT: 1, beta1: beta1, beta2: beta2, totalStep: 12);
        var parameters = paths.SelectMany(p => new Tensor[] { p.A, p.E, p.B }).ToList();
        var expected = new Dictionary<Tensor, (Tensor Ipt, Tensor Unc)>(ReferenceEqualityComparer.Instance);
        parameters.ForEach(p => expected[p] = (zeros_like(p), zeros_like(p)));
        Assert.Null(allocator.Importance(paths[0].A));
        for (var step = 1; step <= 6; step++)
        {
            foreach (var p in parameters)
            {
                p.grad = randn_like(p);
            }

            // The per-parameter computation the allocator did before batching (the official RankAllocator's).
            using (no_grad())
            {
                foreach (var p in parameters)
                {
                    var (ipt, unc) = expected[p];
                    var sensitivity = (p * p.grad!).abs();
                    ipt.mul_(beta1).add_(sensitivity, alpha: 1 - beta1);
                    unc.mul_(beta2).add_((sensitivity - ipt).abs(), alpha: 1 - beta2);
                }
            }

            var scores = cat(paths.Select(p => (expected[p.E].Ipt * expected[p.E].Unc).view(-1) + (expected[p.A].Ipt * expected[p.A].Unc).mean([1L]) + (expected[p.B].Ipt * expected[p.B].Unc).mean([0L])).ToArray());
            var (budget, mask) = allocator.BudgetSchedule(step);
            var expectedThreshold = mask && budget < 20 ? kthvalue(scores, 20 - budget, 0).values.to(ScalarType.Float64).item<double>() : (double?)null;
            var (_, threshold) = allocator.UpdateAndMask(step);
            foreach (var p in parameters)
            {
                var (ipt, unc) = allocator.Importance(p)!.Value;
                Assert.True(ipt.allclose(expected[p].Ipt, rtol: 1e-6, atol: 0), $"step {step}: sensitivity EMA differs");
                Assert.True(unc.allclose(expected[p].Unc, rtol: 1e-6, atol: 0), $"step {step}: uncertainty EMA differs");
            }

            if (expectedThreshold is { } t)
            {
                Assert.Equal(t, threshold!.Value, 6);
                var kept = scores.gt(t).data<bool>().ToArray();
                Assert.Equal(kept, paths.SelectMany(p => p.Kept));
                var nonZero = paths.SelectMany(p => p.E.ne(0).view(-1).data<bool>().ToArray()).ToArray();
                Assert.All(Enumerable.Range(0, kept.Length), i => Assert.True(kept[i] || !nonZero[i], $"step {step}: triplet {i} masked but its singular value is not zero"));
            }
        }

        // A checkpoint's EMAs restore into a fresh allocator through the same views.
        var restored = new RankAllocator(paths, initR: 4, targetR: 1, tInit: 2, tFinal: 2, deltaT: 1, beta1: beta1, beta2: beta2, totalStep: 12);
        restored.SetImportance(paths[2].B, expected[paths[2].B].Ipt, expected[paths[2].B].Unc);
        Assert.True(restored.Importance(paths[2].B)!.Value.Sensitivity.allclose(expected[paths[2].B].Ipt, rtol: 0, atol: 0));
        Assert.Null(restored.Importance(paths[2].A));
        Assert.Throws<ArgumentException>(() => restored.SetImportance(paths[2].B, zeros(2, 2), zeros(2, 2)));
        Assert.Throws<ArgumentException>(() => restored.SetImportance(zeros(5, 3), zeros(5, 3), zeros(5, 3)));
    }

    [Fact]
    public void TheOrthogonalityPenaltyIsZeroForOrthonormalFactors()
    {
        var path = new AdaLoraPath(5, 5, 3, 3, 8);
        using (no_grad())
        {
            path.A.copy_(eye(5)[..3]);
            path.B.copy_(eye(5)[.., ..3]);
        }

        Assert.Equal(0, AdaLoraOrthogonality.Penalty([path], 0.5).item<float>(), 6);
    }
}

public sealed class AdaLoraTrainingTests
{
    [Fact]
    public void AMissingOrImpossibleTotalStepIsAConfigurationError()
    {
        var targets = PeftSharp.Adapters.TargetModules.FromNames("fc1");
        Assert.Throws<PeftConfigurationException>(() => PeftSharp.Adapters.PeftModel.Create(new Mlp(), new AdaLoraConfig { TargetModules = targets }));
        var error = Assert.Throws<PeftConfigurationException>(() => PeftSharp.Adapters.PeftModel.Create(new Mlp(), new AdaLoraConfig { TargetModules = targets, TInit = 5, TFinal = 5, TotalStep = 10 }));
        Assert.Contains("tinit + tfinal", error.Message);
    }

    [Fact]
    public void TrainingThroughTheControllerPrunesToTheTargetBudget()
    {
        manual_seed(8);
        var model = new Mlp(8, 16, 3);
        var config = new AdaLoraConfig { InitR = 4, TargetR = 2, TInit = 2, TFinal = 3, DeltaT = 2, TotalStep = 20, TargetModules = PeftSharp.Adapters.TargetModules.FromNames("fc1", "fc2") };
        var peft = PeftSharp.Adapters.PeftModel.Create(model, config);
        var controller = (AdaLoraController)peft.GetController()!;
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-2);
        var x = randn(32, 8);
        var y = randint(0, 3, [32]);
        for (var step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y) + controller.ExtraLoss(step)!;
            loss.backward();
            optimizer.step();
            controller.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
        }

        Assert.Equal(4, controller.Budget);
        var kept = peft.AdaptedModules.Sum(m => ((AdaLoraPath)m.Layer.GetPath("default")).E.ne(0).sum().item<long>());
        Assert.Equal(4, kept);
        var state = controller.GetState();
        Assert.Equal(12 + 2, state.Tensors.Count);
        Assert.Equal(4, state.Values["budget"]);
    }
}

public sealed class AdaLoraCheckpointTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-adalora-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public void APrunedAdapterSavesAtKeptRanksWithMasksAndReloadsIdentically()
    {
        manual_seed(9);
        var model = new Mlp(8, 16, 3);
        var config = new AdaLoraConfig { InitR = 4, TargetR = 2, TInit = 1, TFinal = 2, DeltaT = 1, TotalStep = 8, TargetModules = PeftSharp.Adapters.TargetModules.FromNames("fc1", "fc2") };
        var peft = PeftSharp.Adapters.PeftModel.Create(model, config);
        var controller = (AdaLoraController)peft.GetController()!;
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 5e-2);
        var x = randn(32, 8);
        var y = randint(0, 3, [32]);
        for (var step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            (nn.functional.cross_entropy(model.forward(x), y) + controller.ExtraLoss(step)!).backward();
            optimizer.step();
            controller.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
        }

        model.eval();
        var expected = model.forward(x).detach();
        peft.SavePretrained(_temp.FullName);
        var saved = (AdaLoraConfig)PeftSharp.Adapters.AdapterConfigFile.Read(Path.Combine(_temp.FullName, "adapter_config.json"));
        Assert.Equal(4, saved.RankPattern!.Values.Sum(m => m.Count(k => k)));
        Assert.All(saved.RankPattern.Values, m => Assert.Equal(4, m.Length));
        using (var file = PeftSharp.IO.SafetensorsFile.Open(Path.Combine(_temp.FullName, "adapter_model.safetensors")))
        {
            var kept = saved.RankPattern["fc1.lora_E"].Count(k => k);
            Assert.Equal([(long)kept, 8L], file.Entries.Single(e => e.Name == "base_model.model.fc1.lora_A").Shape);
        }

        manual_seed(9);
        var fresh = new Mlp(8, 16, 3);
        var loaded = PeftSharp.Adapters.PeftModel.FromPretrained(fresh, _temp.FullName);
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-6);
        var dir2 = Path.Combine(_temp.FullName, "again");
        loaded.SavePretrained(dir2);
        var again = (AdaLoraConfig)PeftSharp.Adapters.AdapterConfigFile.Read(Path.Combine(dir2, "adapter_config.json"));
        Assert.Equal(saved.RankPattern.OrderBy(kv => kv.Key).Select(kv => string.Join(",", kv.Value)), again.RankPattern!.OrderBy(kv => kv.Key).Select(kv => string.Join(",", kv.Value)));
    }
}
