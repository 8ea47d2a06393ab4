using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>Training a decoder: a bf16/fp16 base under fp32 adapters, activation checkpointing, packed examples.</summary>
public sealed class DecoderTrainingTests
{
    private const int Vocabulary = 50;

    private static DecoderConfig TinyConfig(double attentionDropout = 0, string modelType = "llama")
    {
        var json = new JsonObject
        {
            ["model_type"] = modelType, ["vocab_size"] = Vocabulary, ["hidden_size"] = 32, ["intermediate_size"] = 40, ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-5,
            ["eos_token_id"] = 2, ["rope_theta"] = 10000.0, ["attention_dropout"] = attentionDropout,
        };
        return new DecoderConfig(new ConfigJson(json, "tiny/config.json"));
    }

    /// <summary>A tiny random decoder (weights drawn in fp32 from a private generator, then held in <paramref name="dtype"/>).</summary>
    private static DecoderForCausalLM Tiny(ScalarType dtype = ScalarType.Float32, double attentionDropout = 0, ulong seed = 1)
    {
        var model = new DecoderForCausalLM(TinyConfig(attentionDropout), dtype);
        using (no_grad())
        {
            var generator = new Generator(seed);
            foreach (var parameter in model.parameters())
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 0.3);
            }
        }

        return model;
    }

    private static Tensor RandomIds(long batch, long length, ulong seed) =>
        randint(3, Vocabulary, [batch, length], generator: new Generator(seed), dtype: ScalarType.Int64);

    [Fact]
    public void HiddenStatesAreTheEmbeddingsEveryLayersOutputAndTheNormedFinalStateTheLogitsComeFrom()
    {
        using var model = Tiny();
        model.eval();
        using var ids = tensor(new long[] { 3, 7, 11, 5, 9, 4 }).view(2, 3);
        var states = model.HiddenStates(ids);
        Assert.Equal(model.Decoder.NumHiddenLayers + 1, states.Count);
        Assert.All(states, s => Assert.Equal(new long[] { 2, 3, 32 }, s.shape));
        // The first is the embedding lookup; the last, projected by the output head, gives the logits.
        var embeddings = model.named_parameters().Single(p => p.name == "model.embed_tokens.weight").parameter;
        Assert.True(states[0].allclose(embeddings.index_select(0, ids.flatten()).view(2, 3, 32), rtol: 0, atol: 0));
        TestUtil.AssertClose(nn.functional.linear(states[^1], model.OutputEmbeddings).detach(), model.Forward(ids).detach(), 1e-5, 1e-5);
        // Each layer changes the state.
        for (var i = 1; i < states.Count; i++)
        {
            Assert.False(states[i].allclose(states[i - 1]));
        }
    }

    [Fact]
    public void AttentionDropoutIsReadCheckedAndOnlyActsInTraining()
    {
        Assert.Equal(0.0, TinyConfig().AttentionDropout);
        Assert.Equal(0.25, TinyConfig(0.25).AttentionDropout);
        var error = Assert.Throws<ConfigFormatException>(() => TinyConfig(1.5));
        Assert.Contains("attention_dropout", error.Message, StringComparison.Ordinal);

        var model = Tiny(attentionDropout: 0.5);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = RandomIds(1, 8, 5);
        model.eval();
        var a = model.Forward(ids);
        Assert.True(a.allclose(model.Forward(ids)));
        model.train();
        Assert.False(a.allclose(model.Forward(ids)));
    }

    private static AdapterConfig Method(string name) => name switch
    {
        "lora" => new LoraConfig { TargetModules = TargetModules.AllLinear, R = 4, LoraAlpha = 8, LoraDropout = 0.2, InitLoraWeights = LoraInit.Random },
        "dora" => new LoraConfig { TargetModules = TargetModules.AllLinear, R = 4, LoraAlpha = 8, LoraDropout = 0.2, InitLoraWeights = LoraInit.Random, UseDora = true },
        _ => new PeftSharp.Methods.TiedLora.TiedLoraConfig { TargetModules = TargetModules.AllLinear, R = 4, LoraAlpha = 8, LoraDropout = 0.2 },
    };

    [Theory]
    [InlineData("lora", ScalarType.Float32)]
    [InlineData("dora", ScalarType.Float32)]
    [InlineData("tied-lora", ScalarType.Float32)]
    [InlineData("lora", ScalarType.BFloat16)]
    public void CheckpointedGradientsEqualPlainGradientsWithDropoutReplayed(string method, ScalarType dtype)
    {
        var model = Tiny(dtype, attentionDropout: 0.2);
        var peft = PeftModel.Create(model, Method(method), generator: new Generator(3));
        model.train();
        var trainable = peft.GetTrainableParameters();
        Assert.NotEmpty(trainable);
        using (no_grad())
        {
            // Zero-initialised tensors (Tied-LoRA's v) would leave the tensors before them without gradient.
            var generator = new Generator(4);
            foreach (var parameter in trainable.Where(p => p.abs().max().item<float>() == 0))
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 0.1);
            }
        }

        var ids = RandomIds(2, 12, 7);

        Dictionary<string, Tensor> Gradients(bool checkpointing, long seed)
        {
            if (checkpointing)
            {
                model.EnableGradientCheckpointing();
            }
            else
            {
                model.DisableGradientCheckpointing();
            }

            model.zero_grad();
            manual_seed(seed);
            using (var step = NewDisposeScope())
            {
                CausalLmLoss.Compute(model.Forward(ids), ids).backward();
            }

            var result = new Dictionary<string, Tensor>();
            foreach (var (name, parameter) in model.named_parameters())
            {
                if (parameter.requires_grad)
                {
                    using var grad = parameter.grad ?? throw new InvalidOperationException($"{name} got no gradient");
                    result[name] = grad.clone().DetachFromDisposeScope();
                }
            }

            return result;
        }

        var plain = Gradients(checkpointing: false, seed: 11);
        var checkpointed = Gradients(checkpointing: true, seed: 11);
        Assert.True(model.IsGradientCheckpointing);
        var otherMasks = Gradients(checkpointing: false, seed: 12);
        Assert.Equal(trainable.Count, plain.Count);
        Assert.Equal(plain.Keys.Order(), checkpointed.Keys.Order());
        var (changed, nonzero) = (0, 0);
        foreach (var (name, want) in plain)
        {
            var got = checkpointed[name];
            var scale = want.abs().max().item<float>();
            var difference = (got - want).abs().max().item<float>();
            Assert.True(difference <= 1e-6 * scale, $"{name}: gradient difference {difference} at scale {scale}");
            if (scale > 0)
            {
                nonzero++;
                changed += otherMasks[name].allclose(want) ? 0 : 1;
            }
        }

        // The dropout masks matter: other seeds give other gradients, so equality above is a real replay.
        Assert.Equal(plain.Count, nonzero);
        Assert.True(changed > nonzero / 2, $"only {changed} of {nonzero} gradients depend on the dropout masks");
    }

    [Fact]
    public void CheckpointedTrainingStepsLeaveNoTensorsBehind()
    {
        var model = Tiny(attentionDropout: 0.1);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear, R = 2, LoraDropout = 0.1 }, generator: new Generator(3));
        model.EnableGradientCheckpointing();
        model.train();
        var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-3);
        var ids = RandomIds(2, 10, 9);

        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            CausalLmLoss.Compute(model.Forward(ids), ids).backward();
            optimizer.step();
        }

        Step();
        Step();
        var before = LiveTensorCount.Settled();
        for (var i = 0; i < 5; i++)
        {
            Step();
        }

        Assert.Equal(before, LiveTensorCount.Settled());
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false)]
    [InlineData(ScalarType.Float16, false)]
    [InlineData(ScalarType.BFloat16, true)]
    public void HalfPrecisionBaseTrainsFp32AdaptersAndMergesInFp32(ScalarType dtype, bool dora)
    {
        var model = Tiny(dtype);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear, R = 4, LoraAlpha = 8, UseDora = dora }, generator: new Generator(3));
        var trainable = peft.GetTrainableParameters();
        Assert.All(trainable, p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(model.named_parameters().Where(p => !p.parameter.requires_grad), p => Assert.Equal(dtype, p.parameter.dtype));
        var frozen = model.Backbone.TokenEmbeddings.detach().clone();

        model.train();
        var optimizer = optim.AdamW(trainable, lr: 2e-2);
        var ids = RandomIds(2, 12, 21);
        var losses = new List<float>();
        for (var step = 0; step < 6; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = CausalLmLoss.Compute(model.Forward(ids), ids);
            Assert.Equal(ScalarType.Float32, loss.dtype);
            loss.backward();
            Assert.All(trainable, p =>
            {
                using var grad = p.grad!;
                Assert.Equal(ScalarType.Float32, grad.dtype);
            });
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        Assert.True(losses[^1] < losses[0] * 0.9, $"loss went from {losses[0]} to {losses[^1]}");
        Assert.All(trainable, p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.True(frozen.equal(model.Backbone.TokenEmbeddings).all().item<bool>());

        // Merging rounds once: the merged weight is round(fp32(W) + ΔW), and the outputs agree within the dtype's precision.
        model.eval();
        using var noGrad = no_grad();
        var layer = peft.AdaptedModules.Select(m => m.Layer).First();
        var baseWeight = layer.Target.Weight.clone();
        var expected = (baseWeight.to(ScalarType.Float32) + layer.GetPath("default").DeltaWeight()).to(dtype);
        var unmerged = model.Forward(ids).to(ScalarType.Float32);
        peft.MergeAdapter();
        if (dora)
        {
            // DoRA's ΔW is its merged weight minus W in fp32, so fp32(W) + ΔW can differ from the merged weight by
            // an fp32 rounding, which may tip a value to the neighbouring bf16/fp16 number: within one step of it.
            var step = expected.to(ScalarType.Float32).abs() * (dtype == ScalarType.BFloat16 ? 1.0 / 128 : 1.0 / 1024);
            Assert.True((layer.Target.Weight.to(ScalarType.Float32) - expected.to(ScalarType.Float32)).abs().le(step).all().item<bool>());
        }
        else
        {
            Assert.True(layer.Target.Weight.equal(expected).all().item<bool>());
        }
        var merged = model.Forward(ids).to(ScalarType.Float32);
        var tolerance = dtype == ScalarType.BFloat16 ? 0.03 : 0.005;
        var scale = unmerged.abs().max().item<float>();
        var difference = (merged - unmerged).abs().max().item<float>();
        Assert.True(difference <= tolerance * scale, $"merged and unmerged logits differ by {difference} (scale {scale})");
        peft.UnmergeAdapter();
        var restored = layer.Target.Weight;
        var drift = (restored.to(ScalarType.Float32) - baseWeight.to(ScalarType.Float32)).abs().max().item<float>();
        Assert.True(drift <= 0.02 * baseWeight.to(ScalarType.Float32).abs().max().item<float>(), $"unmerge drifted by {drift}");
    }

    [Fact]
    public void AdaptersLoadedOntoABf16BaseStayFp32()
    {
        var directory = Directory.CreateTempSubdirectory("peftsharp-bf16-adapter-");
        try
        {
            var model = Tiny(ScalarType.BFloat16);
            var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear, R = 4, InitLoraWeights = LoraInit.Random }, generator: new Generator(3));
            peft.SavePretrained(directory.FullName);
            var reloaded = Tiny(ScalarType.BFloat16);
            PeftModel.FromPretrained(reloaded, directory.FullName);
            var saved = peft.GetTrainableParameters();
            var read = reloaded.named_parameters().Where(p => p.name.Contains("lora_", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
            Assert.Equal(saved.Count, read.Count);
            Assert.All(read, p => Assert.Equal(ScalarType.Float32, p.dtype));
            for (var i = 0; i < saved.Count; i++)
            {
                Assert.True(saved[i].equal(read[i]).all().item<bool>());
            }

            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            model.eval();
            reloaded.eval();
            var ids = RandomIds(1, 9, 4);
            Assert.True(model.Forward(ids).equal(reloaded.Forward(ids)).all().item<bool>());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static CausalLmExample Example(ulong seed, int length, int prompt)
    {
        using var scope = NewDisposeScope();
        var ids = RandomIds(1, length, seed).view(-1).data<long>().ToArray();
        var labels = ids.Select((id, i) => i < prompt ? CausalLmLoss.IgnoreIndex : id).ToArray();
        return new CausalLmExample(ids, labels);
    }

    private static List<CausalLmExample> Examples() =>
    [
        Example(1, 7, 2), Example(2, 3, 0), Example(3, 11, 4), Example(4, 5, 1), Example(5, 9, 3), Example(6, 2, 0), Example(7, 6, 6 - 2),
    ];

    [Fact]
    public void PackerFillsRowsFirstFitAndCutsLabelsAtExampleBoundaries()
    {
        var examples = Examples();
        var rows = CausalLmPacker.Pack(examples, 16);
        Assert.Equal(Enumerable.Range(0, examples.Count), rows.SelectMany(r => r.Examples).Order());
        Assert.All(rows, row => Assert.True(row.Length <= 16));

        // First-fit in order: 7, 3 → row 0 (6 left); 11 → row 1 (5 left); 5 → row 0 (1 left); 9 → row 2 (7 left); 2 → row 1; 6 → row 2.
        Assert.Equal([[0, 1, 3], [2, 5], [4, 6]], rows.Select(r => r.Examples.ToArray()).ToArray());
        foreach (var row in rows)
        {
            var at = 0;
            foreach (var index in row.Examples)
            {
                var example = examples[index];
                Assert.Equal(example.InputIds, row.InputIds.Skip(at).Take(example.Length));
                Assert.Equal(Enumerable.Range(0, example.Length).Select(i => (long)i), row.PositionIds.Skip(at).Take(example.Length));
                Assert.Equal(CausalLmLoss.IgnoreIndex, row.Labels[at]);
                Assert.Equal(example.Labels.Skip(1), row.Labels.Skip(at + 1).Take(example.Length - 1));
                at += example.Length;
            }
        }

        Assert.Equal(rows.Select(r => r.Examples.ToArray()), CausalLmPacker.Pack(examples, 16).Select(r => r.Examples.ToArray()));
        var tooLong = Assert.Throws<ArgumentException>(() => CausalLmPacker.Pack(examples, 10));
        Assert.Contains("example 2", tooLong.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CausalLmPacker.Pack([new CausalLmExample([], [])], 10));
    }

    [Fact]
    public void PackedBatchesCoverEveryExampleOnceAndGiveTheEpochLossOfPaddedBatches()
    {
        var model = Tiny();
        model.eval();
        var examples = Examples();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var packed = new PackedBatcher(examples, maxLength: 16, rowsPerBatch: 2, padTokenId: 0, seed: 3);
        var again = new PackedBatcher(examples, maxLength: 16, rowsPerBatch: 2, padTokenId: 0, seed: 3);
        var padded = new LengthGroupedBatcher(examples, batchSize: 3, padTokenId: 0, seed: 3);

        // Every example once per epoch, the same rows in every epoch, the batch order a function of (seed, epoch).
        Assert.Equal(Enumerable.Range(0, examples.Count), packed.Rows.SelectMany(r => r.Examples).Order());
        Assert.Equal(packed.BatchesPerEpoch, (packed.Rows.Count + 1) / 2);
        for (var epoch = 0; epoch < 2; epoch++)
        {
            for (var b = 0; b < packed.BatchesPerEpoch; b++)
            {
                Assert.Equal(packed.Batch(epoch, b).InputIds.data<long>().ToArray(), again.Batch(epoch, b).InputIds.data<long>().ToArray());
            }
        }

        static (double Sum, long Count) EpochLoss(DecoderForCausalLM model, ICausalLmBatcher batcher)
        {
            double sum = 0;
            long count = 0;
            for (var b = 0; b < batcher.BatchesPerEpoch; b++)
            {
                var batch = batcher.Batch(0, b);
                var (loss, n) = CausalLmLoss.Sum(model.Forward(batch.InputIds, batch.AttentionMask, batch.PositionIds, cache: null, lastPositionOnly: false), batch.Labels);
                sum += loss.item<float>();
                count += n;
            }

            return (sum, count);
        }

        var (packedSum, packedCount) = EpochLoss(model, packed);
        var (paddedSum, paddedCount) = EpochLoss(model, padded);
        Assert.Equal(examples.Sum(e => e.Labels.Skip(1).Count(l => l != CausalLmLoss.IgnoreIndex)), paddedCount);
        Assert.Equal(paddedCount, packedCount);
        Assert.True(Math.Abs(packedSum - paddedSum) <= 1e-4 * Math.Abs(paddedSum), $"packed {packedSum}, padded {paddedSum}");
    }

    [Fact]
    public void PackedLossAndLogitsEqualUnpackedOnes()
    {
        var model = Tiny();
        model.eval();
        var examples = Examples();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        var rows = CausalLmPacker.Pack(examples, 16);
        var (ids, labels, positions) = CausalLmPacker.Collate(rows, padTokenId: 0);
        var packedLogits = model.Forward(ids, attentionMask: null, positionIds: positions, cache: null, lastPositionOnly: false);
        var packedLoss = CausalLmLoss.Compute(packedLogits, labels).item<float>();

        // The same examples right-padded into one batch with an attention mask.
        var width = examples.Max(e => e.Length);
        var paddedIds = zeros(examples.Count, width, dtype: ScalarType.Int64);
        var paddedLabels = full(examples.Count, width, CausalLmLoss.IgnoreIndex, dtype: ScalarType.Int64);
        var mask = zeros(examples.Count, width, dtype: ScalarType.Int64);
        for (var i = 0; i < examples.Count; i++)
        {
            var length = examples[i].Length;
            paddedIds[i].narrow(0, 0, length).copy_(tensor(examples[i].InputIds));
            paddedLabels[i].narrow(0, 0, length).copy_(tensor(examples[i].Labels));
            mask[i].narrow(0, 0, length).fill_(1);
        }

        var paddedLoss = CausalLmLoss.Compute(model.Forward(paddedIds, mask), paddedLabels).item<float>();
        Assert.True(Math.Abs(packedLoss - paddedLoss) <= 1e-5 * Math.Max(1, Math.Abs(paddedLoss)), $"packed loss {packedLoss}, padded loss {paddedLoss}");

        for (var r = 0; r < rows.Count; r++)
        {
            var at = 0L;
            foreach (var index in rows[r].Examples)
            {
                var length = examples[index].Length;
                var alone = model.Forward(tensor(examples[index].InputIds).unsqueeze(0))[0];
                var packed = packedLogits[r].narrow(0, at, length);
                var difference = (alone - packed).abs().max().item<float>();
                Assert.True(difference <= 1e-4, $"example {index} in row {r}: logits differ by {difference}");
                at += length;
            }
        }

        // A padding mask on top of the packed rows changes nothing for the real tokens.
        var real = ids.ne(0).to(ScalarType.Int64);
        var masked = model.Forward(ids, real, positions, cache: null, lastPositionOnly: false);
        var keep = real.to(ScalarType.Bool).unsqueeze(-1);
        Assert.True(masked.masked_select(keep).allclose(packedLogits.masked_select(keep), rtol: 1e-5, atol: 1e-5));

        // Without restarting positions the row is one sequence: the examples see each other.
        var joined = model.Forward(ids);
        Assert.False(joined.allclose(packedLogits, rtol: 1e-3, atol: 1e-3));
    }
}
