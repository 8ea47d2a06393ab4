using PeftSharp.Adapters;
using PeftSharp.Methods.AdaLora;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class DebertaTests : IDisposable
{
    private const int Vocab = 50;
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-deberta-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string Dir(string name) => Path.Combine(_temp.FullName, name);

    /// <summary>A tiny DeBERTa-v3-style config (relative attention, 8 log buckets, c2p+p2c, shared keys, normalised relative embeddings).</summary>
    private static JsonObject TinyJson(string architecture = "DebertaV2ForSequenceClassification") => new()
    {
        ["architectures"] = new JsonArray(architecture), ["model_type"] = "deberta-v2", ["vocab_size"] = Vocab, ["hidden_size"] = 16,
        ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2, ["intermediate_size"] = 24, ["hidden_act"] = "gelu",
        ["max_position_embeddings"] = 64, ["type_vocab_size"] = 0, ["layer_norm_eps"] = 1e-7, ["pad_token_id"] = 0,
        ["relative_attention"] = true, ["position_buckets"] = 8, ["max_relative_positions"] = -1, ["pos_att_type"] = new JsonArray("p2c", "c2p"),
        ["share_att_key"] = true, ["norm_rel_ebd"] = "layer_norm", ["position_biased_input"] = false, ["pooler_hidden_act"] = "gelu",
        ["pooler_dropout"] = 0, ["id2label"] = new JsonObject { ["0"] = "no", ["1"] = "yes", ["2"] = "maybe" },
    };

    private string Write(string name, JsonObject json)
    {
        var dir = Dir(name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        return dir;
    }

    private PretrainedModel Create(string name, Action<JsonObject>? change = null, string architecture = "DebertaV2ForSequenceClassification")
    {
        var json = TinyJson(architecture);
        change?.Invoke(json);
        return PretrainedModel.Create(Write(name, json));
    }

    private static Tensor Ids(long seed, int batch = 2, int length = 11) =>
        randint(3, Vocab, [batch, length], generator: new Generator((ulong)seed));

    public static TheoryData<string> Variants() =>
        ["v3", "unshared keys", "c2p only", "p2c only", "absolute positions and token types", "no relative attention", "no buckets", "embedding size", "conv", "string pos_att_type", "more buckets than positions"];

    private static void Apply(string variant, JsonObject json)
    {
        switch (variant)
        {
            case "unshared keys": json["share_att_key"] = false; break;
            case "c2p only": json["pos_att_type"] = new JsonArray("c2p"); json["share_att_key"] = false; break;
            case "p2c only": json["pos_att_type"] = new JsonArray("p2c"); break;
            case "absolute positions and token types": json["position_biased_input"] = true; json["type_vocab_size"] = 2; break;
            case "no relative attention": json["relative_attention"] = false; json["position_biased_input"] = true; break;
            case "no buckets": json.Remove("position_buckets"); json["max_relative_positions"] = 16; json["norm_rel_ebd"] = "none"; break;
            case "embedding size": json["embedding_size"] = 8; break;
            case "conv": json["conv_kernel_size"] = 3; json["conv_act"] = "gelu"; break;
            case "string pos_att_type": json["pos_att_type"] = "p2c|c2p"; break;
            case "more buckets than positions": json["position_buckets"] = 256; json["max_position_embeddings"] = 32; break;
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EachVariantSavesLoadsAndIgnoresPadding(string variant)
    {
        manual_seed(1);
        var model = Create("variant", json => Apply(variant, json));
        model.eval();
        using var noGrad = no_grad();
        var ids = Ids(2, batch: 1, length: 7);
        var types = variant.Contains("token types", StringComparison.Ordinal) ? tensor(new long[] { 0, 0, 0, 1, 1, 1, 1 }).unsqueeze(0) : null;
        var alone = model.Forward(ids, ones_like(ids), types);

        var padded = cat([ids, zeros(1, 5, dtype: ScalarType.Int64)], 1);
        var mask = cat([ones_like(ids), zeros(1, 5, dtype: ScalarType.Int64)], 1);
        var paddedTypes = types is null ? null : cat([types, zeros(1, 5, dtype: ScalarType.Int64)], 1);
        TestUtil.AssertClose(model.Forward(padded, mask, paddedTypes), alone, 1e-5, 1e-5);
        Assert.False(model.Forward(padded, null, paddedTypes).allclose(alone, 1e-4, 1e-4), "without the mask the padding must matter");

        model.SavePretrained(Dir("saved"));
        var loaded = PretrainedModel.FromPretrained(Dir("saved"));
        Assert.IsType<DebertaV2ForSequenceClassification>(loaded);
        Assert.True(TestUtil.Identical(loaded.Forward(ids, ones_like(ids), types), alone));
    }

    [Fact]
    public void TokenTypesAreIgnoredWithoutATokenTypeTableAndTheScaleCountsTheTermsAsHuggingFaceDoes()
    {
        manual_seed(2);
        var model = Create("no-types");
        model.eval();
        using var noGrad = no_grad();
        var ids = Ids(3);
        TestUtil.AssertClose(model.Forward(ids, null, ones_like(ids)), model.Forward(ids), 0, 0);

        var json = TinyJson();
        json["relative_attention"] = false;
        Assert.Equal(3, new DebertaV2Config(new ConfigJson(json, "config.json")).ScaleFactor);
        json["pos_att_type"] = "c2p";
        Assert.Equal(2, new DebertaV2Config(new ConfigJson(json, "config.json")).ScaleFactor);
    }

    [Fact]
    public void UnsharedKeysHavePositionProjectionsPerTerm()
    {
        var shared = Create("shared").state_dict().Keys.ToList();
        Assert.DoesNotContain(shared, k => k.Contains("pos_key_proj", StringComparison.Ordinal) || k.Contains("pos_query_proj", StringComparison.Ordinal));
        Assert.Contains("deberta.encoder.rel_embeddings.weight", shared);
        Assert.Contains("deberta.encoder.LayerNorm.weight", shared);

        var both = Create("both", j => j["share_att_key"] = false).state_dict().Keys.ToList();
        Assert.Contains("deberta.encoder.layer.1.attention.self.pos_key_proj.weight", both);
        Assert.Contains("deberta.encoder.layer.1.attention.self.pos_query_proj.bias", both);

        var c2p = Create("c2p", j => { j["share_att_key"] = false; j["pos_att_type"] = "c2p"; }).state_dict().Keys.ToList();
        Assert.Contains("deberta.encoder.layer.0.attention.self.pos_key_proj.weight", c2p);
        Assert.DoesNotContain(c2p, k => k.Contains("pos_query_proj", StringComparison.Ordinal));

        var absolute = Create("abs", j => { j["position_biased_input"] = true; j["type_vocab_size"] = 2; j["embedding_size"] = 8; }).state_dict().Keys.ToList();
        Assert.Contains("deberta.embeddings.position_embeddings.weight", absolute);
        Assert.Contains("deberta.embeddings.token_type_embeddings.weight", absolute);
        Assert.Contains("deberta.embeddings.embed_proj.weight", absolute);
    }

    [Fact]
    public void UnsharedPositionProjectionsLoadFromACheckpointAndChangeTheOutput()
    {
        manual_seed(3);
        var model = Create("unshared", j => j["share_att_key"] = false);
        model.eval();
        model.SavePretrained(Dir("unshared-saved"));
        using var noGrad = no_grad();
        var ids = Ids(4);
        var before = model.Forward(ids);
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        state["deberta.encoder.layer.0.attention.self.pos_key_proj.weight"].mul_(3.0);
        SafetensorsWriter.Save(Path.Combine(Dir("unshared-saved"), "model.safetensors"), state);
        var loaded = PretrainedModel.FromPretrained(Dir("unshared-saved"));
        Assert.False(loaded.Forward(ids).allclose(before, 1e-5, 1e-5), "pos_key_proj must take part in the attention");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MaskedLMHeadLoadsFromEitherHuggingFaceLayout(bool legacy)
    {
        manual_seed(5);
        var model = Create("mlm", j => j["legacy"] = legacy, "DebertaV2ForMaskedLM");
        model.eval();
        using var noGrad = no_grad();
        var ids = Ids(6);
        var expected = model.Forward(ids);
        Assert.Equal([2L, 11L, Vocab], expected.shape);
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Contains(legacy ? "cls.predictions.transform.dense.weight" : "lm_predictions.lm_head.dense.weight", state.Keys);
        Assert.Contains(legacy ? "cls.predictions.bias" : "lm_predictions.lm_head.bias", state.Keys);

        // The other layout's names, plus the tied decoder copy Hugging Face writes in the legacy layout.
        var renamed = state.ToDictionary(
            kv => legacy
                ? kv.Key.Replace("cls.predictions.transform.", "lm_predictions.lm_head.", StringComparison.Ordinal).Replace("cls.predictions.bias", "lm_predictions.lm_head.bias", StringComparison.Ordinal)
                : kv.Key.Replace("lm_predictions.lm_head.bias", "cls.predictions.bias", StringComparison.Ordinal).Replace("lm_predictions.lm_head.", "cls.predictions.transform.", StringComparison.Ordinal),
            kv => kv.Value);
        if (!legacy)
        {
            renamed["cls.predictions.decoder.weight"] = state["deberta.embeddings.word_embeddings.weight"];
        }

        model.SavePretrained(Dir("mlm-saved"));
        SafetensorsWriter.Save(Path.Combine(Dir("mlm-saved"), "model.safetensors"), renamed);
        var loaded = PretrainedModel.FromPretrained(Dir("mlm-saved"));
        Assert.IsType<DebertaV2ForMaskedLM>(loaded);
        Assert.True(TestUtil.Identical(loaded.Forward(ids), expected));

        var classifier = PretrainedModel.ForSequenceClassification(Dir("mlm-saved"), ["a", "b"], out var report);
        Assert.IsType<DebertaV2ForSequenceClassification>(classifier);
        Assert.All(report.Missing, n => Assert.True(n.StartsWith("classifier.", StringComparison.Ordinal) || n.StartsWith("pooler.", StringComparison.Ordinal), n));
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(100, 13)]
    [InlineData(-100, -13)]
    [InlineData(9, 9)]
    [InlineData(-3, -3)]
    [InlineData(0, 0)]
    public void LogBucketsMatchHandComputedValues(int distance, int bucket)
    {
        // 16 buckets (mid 8), max 512: |d| ≤ 8 stays; else 8 + ⌈ln(|d|/8) / ln(511/8) · 7⌉ with d's sign.
        using var relative = tensor(new long[] { distance });
        using var result = RelativePositions.LogBucket(relative, 16, 512);
        Assert.Equal(bucket, result.item<long>());
        using var built = RelativePositions.Build(3, 3, -1, 512);
        Assert.Equal(new long[] { 0, -1, -2, 1, 0, -1, 2, 1, 0 }, built.data<long>().ToArray());
    }

    [Theory]
    [InlineData("conv_kernel_size", 2)]
    [InlineData("attention_head_size", 5)]
    [InlineData("hidden_act", "swiglu")]
    [InlineData("pooler_hidden_act", "mish")]
    [InlineData("pos_att_type", "p2p|c2p")]
    [InlineData("norm_rel_ebd", "batch_norm")]
    [InlineData("pooler_hidden_size", 8)]
    [InlineData("hidden_size", "big")]
    [InlineData("share_att_key", 3)]
    [InlineData("type_vocab_size", -1)]
    public void UnsupportedOrMalformedOptionsAreErrorsNamingTheField(string field, object value)
    {
        var json = TinyJson();
        json[field] = value switch { int i => JsonValue.Create(i), string s => JsonValue.Create(s), _ => null };
        var dir = Write("bad-" + field, json);
        var error = Assert.Throws<ConfigFormatException>(() => PretrainedModel.Create(dir));
        Assert.Equal(field, error.Field);
        Assert.Contains("config.json", error.Message);
    }

    [Fact]
    public void DefaultTargetsAreQueryAndValueProjections()
    {
        var peft = PeftModel.Create(Create("default"), new LoraConfig());
        Assert.Equal(4, peft.AdaptedModules.Count);
        Assert.All(peft.AdaptedModules, m => Assert.True(m.Name.EndsWith(".query_proj", StringComparison.Ordinal) || m.Name.EndsWith(".value_proj", StringComparison.Ordinal), m.Name));
    }

    [Fact]
    public void LoraOnSharedQueryProjectionAlsoActsOnTheRelativeEmbeddings()
    {
        // p2c only with shared keys: query_proj enters the scores only through the projected relative
        // embeddings (content queries still go through it too); compare against a model whose
        // query_proj weight absorbed the LoRA delta, which must equal the adapted model exactly.
        manual_seed(7);
        var model = Create("shared-lora", j => j["pos_att_type"] = "p2c");
        var peft = PeftModel.Create(model, new LoraConfig { R = 2, LoraAlpha = 4, TargetModules = TargetModules.FromNames("query_proj") });
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.name.Contains("lora_B", StringComparison.Ordinal)))
        {
            using var noGradInit = no_grad();
            parameter.normal_(0, 0.5);
        }

        model.eval();
        using var noGrad = no_grad();
        var ids = Ids(8);
        var adapted = model.Forward(ids);
        peft.MergeAdapter();
        TestUtil.AssertClose(model.Forward(ids), adapted, 1e-5, 1e-5);
        peft.UnmergeAdapter();
        using (peft.DisableAdapters())
        {
            Assert.False(model.Forward(ids).allclose(adapted, 1e-4, 1e-4));
        }
    }

    [Fact]
    public void LoraTrainsAndMerges()
    {
        manual_seed(11);
        var model = Create("train", j => j["hidden_dropout_prob"] = 0.0);
        var peft = PeftModel.Create(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = TargetModules.FromNames("query_proj", "value_proj"), ModulesToSave = ["classifier", "pooler"] });
        var ids = Ids(12, batch: 8, length: 10);
        var labels = tensor(new long[] { 0, 1, 2, 0, 1, 2, 0, 1 });
        model.train();
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-2);
        float first = 0, last = 0;
        for (var step = 0; step < 60; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.Forward(ids), labels);
            loss.backward();
            optimizer.step();
            last = loss.item<float>();
            first = step == 0 ? last : first;
        }

        Assert.True(last < 0.7 * first, $"loss {first} → {last}");
        model.eval();
        using var noGrad = no_grad();
        var unmerged = model.Forward(ids);
        peft.MergeAdapter();
        TestUtil.AssertClose(model.Forward(ids), unmerged, 1e-4, 1e-4);
    }

    [Fact]
    public void AdaLoraOnAllSixMatricesSavesAtKeptRanksAndReloads()
    {
        manual_seed(13);
        var model = Create("adalora");
        var config = AdaLoraConfig.ForDebertaAllMatrices(8);
        (config.InitR, config.TargetR, config.TInit, config.TFinal, config.DeltaT, config.LoraDropout) = (4, 2, 1, 2, 1, 0.0);
        var peft = PeftModel.Create(model, config);
        Assert.Equal(2 * 6, peft.AdaptedModules.Count);
        foreach (var suffix in new[] { "query_proj", "key_proj", "value_proj", "attention.output.dense", "intermediate.dense", "layer.1.output.dense" })
        {
            Assert.Contains(peft.AdaptedModules, m => m.Name.EndsWith(suffix, StringComparison.Ordinal));
        }

        Assert.DoesNotContain(peft.AdaptedModules, m => m.Name.StartsWith("pooler", StringComparison.Ordinal) || m.Name.StartsWith("classifier", StringComparison.Ordinal));
        var controller = (AdaLoraController)peft.GetController()!;
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 5e-2);
        var ids = Ids(14, batch: 6, length: 9);
        var labels = tensor(new long[] { 0, 1, 2, 0, 1, 2 });
        model.train();
        for (var step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            (nn.functional.cross_entropy(model.Forward(ids), labels) + controller.ExtraLoss(step)!).backward();
            optimizer.step();
            controller.OnAfterOptimizerStep(step);
            optimizer.zero_grad();
        }

        model.eval();
        using var noGrad = no_grad();
        var expected = model.Forward(ids);
        peft.SavePretrained(Dir("adapter"));
        var saved = (AdaLoraConfig)AdapterConfigFile.Read(Path.Combine(Dir("adapter"), "adapter_config.json"));
        Assert.Equal(12, saved.RankPattern!.Count);
        Assert.Equal(2 * 12, saved.RankPattern.Values.Sum(m => m.Count(k => k)));

        manual_seed(13);
        var fresh = Create("adalora-fresh");
        PeftModel.FromPretrained(fresh, Dir("adapter"));
        fresh.eval();
        TestUtil.AssertClose(fresh.Forward(ids), expected, 1e-5, 1e-6);
    }
}
