using PeftSharp.Adapters;
using PeftSharp.Benchmarks;
using PeftSharp.Models;
using PeftSharp.Training;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>The rank-recovery benchmark on the bundled decoder: the teacher's truth, the oracle's rule, the distillation loss and a tiny end-to-end run.</summary>
public sealed class RankRecoveryTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peft-rank-recovery-").FullName;

    private static string Decoder => Path.Combine(BundledDemoTests.Repository(), "models", "decoder");

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Theory]
    [InlineData(64, 48, 0)]
    [InlineData(64, 48, 1)]
    [InlineData(40, 90, 5)]
    [InlineData(16, 16, 16)]
    public void AnUpdateHasExactlyItsRankWithAFlatSpectrum(int outFeatures, int inFeatures, int rank)
    {
        using var delta = LowRankDeltas.Create(outFeatures, inFeatures, rank, 0.7, new Generator(3));
        Assert.Equal([(long)outFeatures, inFeatures], delta.shape);
        var singular = LowRankDeltas.SingularValues(delta);
        for (var i = 0; i < singular.Length; i++)
        {
            Assert.Equal(i < rank ? 0.7 : 0.0, singular[i], 5);
        }
    }

    [Fact]
    public void TheTeacherAddsUpdatesOfExactlyTheStatedRanksThatVaryWithinEachModuleType()
    {
        var generator = new Generator(5);
        var rows = Enumerable.Range(0, 8).Select(_ => randint(4, 4096, [32], generator: generator).data<long>().ToArray()).ToList();
        // Three of the seven projection types keep the test fast; the bench adapts all seven.
        using var teacher = RankRecoveryTeacher.Create(Decoder, TargetModules.FromNames("q_proj", "k_proj", "down_proj"), rows, seed: 2, strength: 0.5);
        using var plain = teacher.LoadBase();
        Assert.Equal(12, teacher.Modules.Count);
        var baseWeights = plain.state_dict();
        var teacherWeights = teacher.Model.state_dict();
        foreach (var module in teacher.Modules)
        {
            using var scope = NewDisposeScope();
            var weight = baseWeights[module.Name + ".weight"];
            var added = teacherWeights[module.Name + ".weight"] - weight;
            Assert.True(added.allclose(module.Delta, rtol: 0, atol: 1e-6), module.Name);
            // The update has exactly its rank: singular values beyond it are ~0 (float32 round-off).
            var singular = LowRankDeltas.SingularValues(module.Delta);
            Assert.All(singular.Skip(module.Rank), s => Assert.True(s < 1e-5 * Math.Max(singular[0], 1e-3), $"{module.Name}: {s}"));
            Assert.All(singular.Take(module.Rank), s => Assert.True(s > 1e-3 * singular[0], $"{module.Name}: {s}"));
            // Its effect on the measured inputs has a flat spectrum at the direction strength, 0.5 × the base map's RMS singular value there.
            var effect = module.RelativeEffectSpectrum(module.Delta);
            Assert.All(effect.Take(module.Rank), e => Assert.Equal(1.0, e, 3));
            Assert.All(effect.Skip(module.Rank), e => Assert.True(e < 1e-4, $"{module.Name}: {e}"));
            Assert.Equal(0.5 * LowRankDeltas.RmsSingularValue(matmul(weight.to(ScalarType.Float64), module.InputRoot)), module.DirectionStrength, 6);
        }

        Assert.Equal(Enumerable.Range(0, 12).Select(i => RankRecoveryTeacher.RankPool[i % RankRecoveryTeacher.RankPool.Count]).Order(), teacher.Modules.Select(m => m.Rank).Order());
        Assert.Contains(0, teacher.Modules.Select(m => m.Rank));
        foreach (var type in teacher.Modules.GroupBy(m => m.Name[(m.Name.LastIndexOf('.') + 1)..]))
        {
            Assert.Equal(4, type.Count());
            Assert.True(type.Select(m => m.Rank).Distinct().Count() > 1, $"{type.Key} has one rank");
        }

        Assert.All(teacher.Model.parameters(), p => Assert.False(p.requires_grad));
        teacher.Save(_temp);
        var truth = JsonNode.Parse(File.ReadAllText(Path.Combine(_temp, "truth.json")))!;
        Assert.Equal(teacher.Modules[0].Rank, truth["ranks"]![teacher.Modules[0].Name]!.GetValue<int>());
        using var saved = SafetensorsFile.Open(Path.Combine(_temp, "teacher_deltas.safetensors"));
        using var first = saved.Read(teacher.Modules[^1].Name);
        Assert.True(first.allclose(teacher.Modules[^1].Delta, rtol: 0, atol: 0));
    }

    [Fact]
    public void RanksAreASeededPermutationOfThePoolWithVariationInsideEveryType()
    {
        string[] names = [.. Enumerable.Range(0, 3).SelectMany(l => new[] { $"l{l}.q", $"l{l}.v", $"l{l}.down" })];
        var a = RankRecoveryTeacher.AssignRanks(names, 5);
        Assert.Equal(a, RankRecoveryTeacher.AssignRanks(names, 5));
        Assert.NotEqual(a, RankRecoveryTeacher.AssignRanks(names, 6));
        Assert.Equal(RankRecoveryTeacher.RankPool.Concat(RankRecoveryTeacher.RankPool.Take(2)).Order(), a.Order());
        foreach (var suffix in new[] { "q", "v", "down" })
        {
            Assert.True(names.Select((n, i) => (n, i)).Where(t => t.n.EndsWith("." + suffix, StringComparison.Ordinal)).Select(t => a[t.i]).Distinct().Count() > 1);
        }
    }

    [Fact]
    public void TheOracleRuleCountsTheDirectionsAboveTheThreshold()
    {
        // A synthetic learned update: directions at 1.0, 0.8, 0.55 and 0.3 of the teacher's strength s = 0.2, plus noise far below.
        const double strength = 0.2;
        var generator = new Generator(11);
        var (u, _) = linalg.qr(randn(50, 4, dtype: ScalarType.Float64, generator: generator));
        var (v, _) = linalg.qr(randn(30, 4, dtype: ScalarType.Float64, generator: generator));
        var learned = matmul(u * tensor(new[] { 1.0, 0.8, 0.55, 0.3 }) * strength, v.t()) + randn(50, 30, dtype: ScalarType.Float64, generator: generator) * 1e-4;
        var relative = LowRankDeltas.SingularValues(learned).Select(s => s / strength).ToArray();
        Assert.Equal(3, LowRankDeltas.EffectiveRank(relative, 0.5));
        Assert.Equal(4, LowRankDeltas.EffectiveRank(relative, 0.25));
        Assert.Equal(0, LowRankDeltas.EffectiveRank(relative, 1.5));
        Assert.Equal([3, 0], RankRecoveryBench.OracleRanks([relative, new double[30]], 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => LowRankDeltas.EffectiveRank(relative, 0));
    }

    [Fact]
    public void TheOraclesWhitenedUpdateActsOnTheInputsAsItsEffectMatrix()
    {
        var generator = new Generator(7);
        var inputs = randn(200, 6, dtype: ScalarType.Float64, generator: generator) * tensor(new[] { 3.0, 1.0, 0.5, 0.2, 0.1, 0.05 });
        var moment = matmul(inputs.t(), inputs) / 200;
        var (values, vectors) = linalg.eigh(moment);
        var root = matmul(vectors * values.sqrt(), vectors.t());
        using var linear = nn.Linear(6, 4, hasBias: false);
        using var delta = new WhitenedDenseDelta(linear, root);
        using (no_grad())
        {
            delta.Effect.copy_(randn(4, 6, generator: generator));
        }

        // Its weight-space update times C^½ is the effect matrix M times the gain g, the RMS singular value
        // of the base map on the inputs (‖W·C^½‖_F / √min(out, in)), and the forward adds that update.
        var gain = matmul(linear.weight!.detach().to(ScalarType.Float64), root).norm().item<double>() / 2;
        Assert.True(matmul(delta.Delta().to(ScalarType.Float64), root).allclose(delta.Effect.to(ScalarType.Float64) * gain, rtol: 1e-3, atol: 1e-4));
        var x = inputs.to(ScalarType.Float32).narrow(0, 0, 5);
        Assert.True(delta.forward(x).allclose(linear.forward(x) + matmul(x, delta.Delta().t()), rtol: 1e-4, atol: 1e-5));
        Assert.Equal([delta.Effect.Handle], delta.parameters().Where(p => p.requires_grad).Select(p => p.Handle));
    }

    [Fact]
    public void TheDistillationLossIsTheKlOfTheTeachersDistributionFromTheStudents()
    {
        // p = (1/2, 1/2), q = (3/4, 1/4): KL(p‖q) = ½ ln(2/3) + ½ ln 2.
        var teacher = tensor(new float[] { 0, 0, 1, 1 }).view(1, 2, 2);
        var student = tensor(new float[] { MathF.Log(3), 0, 1, 1 }).view(1, 2, 2);
        var expected = (0.5 * Math.Log(2.0 / 3) + 0.5 * Math.Log(2)) / 2;
        Assert.Equal(expected, DistillationTask.Kl(teacher, student).item<float>(), 6);
        Assert.Equal(0, DistillationTask.Kl(student, student).item<float>(), 6);
    }

    [Fact]
    public void TheHiddenStateLossIsTheScaledMeanSquaredErrorAveragedOverLayerOutputs()
    {
        // Three states: the embeddings (ignored) and two layer outputs.
        Tensor[] teacher = [ones(1, 2, 2) * 9, tensor(new float[] { 1, 1, 1, 1 }).view(1, 2, 2), tensor(new float[] { 2, 2, 2, 2 }).view(1, 2, 2)];
        Tensor[] student = [zeros(1, 2, 2), tensor(new float[] { 1, 1, 1, 3 }).view(1, 2, 2), tensor(new float[] { 2, 2, 2, 2 }).view(1, 2, 2)];
        // Layer 1: mean squared error 4/4 = 1 over mean(t²) = 1; layer 2: 0. Mean over the layers: 0.5.
        Assert.Equal(0.5, DistillationTask.HiddenStateError(teacher, student).item<float>(), 6);
        // With scales 4 and 1: (1/4 + 0) / 2.
        Assert.Equal(0.125, DistillationTask.HiddenStateError(teacher, student, [4, 1]).item<float>(), 6);
        Assert.Throws<ArgumentException>(() => DistillationTask.HiddenStateError(teacher, student, [4]));
        Assert.Throws<ArgumentException>(() => DistillationTask.HiddenStateError(teacher, student, [4, 0]));
        Assert.Throws<ArgumentException>(() => DistillationTask.HiddenStateError(teacher, student[..2]));
    }

    [Fact]
    public void WithTheTeachersChangeAsScalesTheBaseScoresOneAndTheTeacherZero()
    {
        var rows = Enumerable.Range(0, 4).Select(r => Enumerable.Range(0, 12).Select(i => (long)((r * 31 + i * 7) % 200 + 10)).ToArray()).ToList();
        using var teacher = RankRecoveryTeacher.Create(Decoder, TargetModules.FromNames("o_proj", "down_proj"), rows, seed: 1, strength: 0.7);
        using var plain = teacher.LoadBase();
        var scales = DistillationTask.HiddenStateScales(teacher.Model, plain, rows, 2);
        Assert.Equal(teacher.Model.Decoder.NumHiddenLayers, scales.Length);
        Assert.All(scales, v => Assert.True(v > 0));
        Assert.Equal(1, DistillationTask.MeanLoss(DistillationTarget.HiddenStates, teacher.Model, plain, rows, 2, scales), 3);
        Assert.Equal(0, DistillationTask.MeanLoss(DistillationTarget.HiddenStates, teacher.Model, teacher.Model, rows, 2, scales), 6);
        Assert.Throws<ArgumentException>(() => DistillationTask.HiddenStateScales(plain, plain, rows, 2));
        using var encoder = PretrainedModel.FromPretrained(Path.Combine(BundledDemoTests.Repository(), "models", "base"));
        Assert.Throws<ArgumentException>(() => new DistillationTask(encoder, teacher.Model, rows, rows, 2, 0, DistillationTarget.HiddenStates));
    }

    [Fact]
    public void MakeTaskWritesTheTeachersTruthAndUpdates()
    {
        var repository = BundledDemoTests.Repository();
        var (code, output, error) = Cli.Peft("make-task", "rank-recovery", "--base", Decoder, "--corpus", Path.Combine(repository, "data", "corpus", "moby-dick.txt"), "--output", _temp, "--seed", "3");
        Assert.True(code == 0, output + error);
        var truth = JsonNode.Parse(File.ReadAllText(Path.Combine(_temp, "truth.json")))!;
        var ranks = truth["ranks"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>());
        Assert.Equal(8, ranks.Count);
        Assert.All(ranks.Keys, name => Assert.True(name.EndsWith(".o_proj", StringComparison.Ordinal) || name.EndsWith(".down_proj", StringComparison.Ordinal), name));
        Assert.Equal(RankRecoveryTeacher.AssignRanks([.. ranks.Keys], 3), ranks.Values);
        using var deltas = SafetensorsFile.Open(Path.Combine(_temp, "teacher_deltas.safetensors"));
        foreach (var (name, rank) in ranks)
        {
            using var delta = deltas.Read(name);
            var singular = linalg.svdvals(delta.to(ScalarType.Float64));
            Assert.Equal(rank, rank == 0 ? (int)delta.abs().sum().item<float>() : (int)singular.gt(singular.max() * 1e-4).sum().item<long>());
        }
    }

    [Fact]
    public void DepthSpearmanSaysWhetherEarlierLayersGetMoreRank()
    {
        string[] modules = ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj", "model.layers.2.mlp.down_proj", "model.layers.10.mlp.down_proj"];
        Assert.Equal(1, RankRecoveryBench.DepthSpearman(modules, [8, 4, 2, 1]), 12);
        Assert.Equal(-1, RankRecoveryBench.DepthSpearman(modules, [0, 1, 3, 7]), 12);
        Assert.Equal(0, RankRecoveryBench.DepthSpearman(modules, [3, 3, 3, 3]));
    }

    [Fact]
    public void MeanIntervalUsesStudentT()
    {
        // sd of 1..5 is √2.5; t(0.975, 4) = 2.776.
        var (mean, half) = RankRecoveryBench.MeanInterval([1, 2, 3, 4, 5]);
        Assert.Equal(3, mean, 12);
        Assert.Equal(2.776 * Math.Sqrt(2.5) / Math.Sqrt(5), half, 1e-3);
        Assert.Equal((7.0, 0.0), RankRecoveryBench.MeanInterval([7]));
    }

    [Fact]
    public void ATinyRecoveryRunWritesRecordsForTheOracleAndEveryMethod()
    {
        var settings = new RankRecoverySettings { Targets = TargetModules.FromNames("q_proj", "v_proj"), Steps = 3, Seeds = 1, BatchSize = 2, SequenceLength = 16, TrainRows = 6, ValidationRows = 2 };
        var log = new StringWriter();
        var records = RankRecoveryBench.Run(BundledDemoTests.Repository(), settings, _temp, log);
        var names = records.Select(r => r.Name).ToList();
        Assert.Contains("rank recovery hidden_mse(teacher, base)", names);
        Assert.Contains("rank recovery Spearman (oracle)", names);
        Assert.Contains("rank recovery Spearman (adalora)", names);
        Assert.Contains("rank recovery Spearman (sora)", names);
        Assert.True(records[0].Value > 0, log.ToString());
        Assert.All(records.Skip(1), r => Assert.InRange(r.Value, -1, 1));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_temp, "rank-recovery.json")))!;
        var seed = json["seeds"]!.AsArray().Single()!;
        Assert.Equal(8, seed["true_ranks"]!.AsArray().Count);
        Assert.Equal(8, seed["students"]!["sora"]!["ranks"]!.AsArray().Count);
        Assert.True(File.Exists(Path.Combine(_temp, "seed-0", "task", "truth.json")));
    }
}
