using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class CheckpointTests : IDisposable
{
    private static readonly string Interop = Path.Combine(AppContext.BaseDirectory, "Interop");
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-ckpt-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string Dir(string name) => Path.Combine(_temp.FullName, name);

    private static Tower BaseTower(int seed)
    {
        manual_seed(seed);
        return new Tower();
    }

    private static LoraConfig RichConfig() => new()
    {
        R = 4,
        LoraAlpha = 8,
        LoraDropout = 0.1,
        TargetModules = TargetModules.FromNames("q", "v"),
        ModulesToSave = ["lm_head"],
        RankPattern = new(StringComparer.Ordinal) { ["layers.1.q"] = 6 },
        AlphaPattern = new(StringComparer.Ordinal) { ["layers.2.v"] = 3 },
        TaskType = "CAUSAL_LM",
    };

    [Fact]
    public void SavePretrainedWritesPeftKeysMetadataAndSortedConfig()
    {
        var peft = PeftModel.Create(BaseTower(1), RichConfig());
        peft.SavePretrained(Dir("out"));
        using var file = SafetensorsFile.Open(Path.Combine(Dir("out"), PeftModel.WeightsFileName));
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, file.Metadata);
        var names = file.Names.Order(StringComparer.Ordinal).ToList();
        Assert.Contains("base_model.model.layers.0.q.lora_A.weight", names);
        Assert.Contains("base_model.model.layers.1.q.lora_B.weight", names);
        Assert.Contains("base_model.model.lm_head.weight", names);
        Assert.Contains("base_model.model.lm_head.bias", names);
        Assert.Equal(3 * 2 * 2 + 2, names.Count);
        Assert.Equal([6L, 8L], file.Entries.Single(e => e.Name == "base_model.model.layers.1.q.lora_A.weight").Shape);
        Assert.DoesNotContain(names, n => n.Contains("default") || n.Contains("base_layer"));

        var text = File.ReadAllText(Path.Combine(Dir("out"), AdapterConfigFile.FileName));
        var json = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(json.Select(p => p.Key).Order(StringComparer.Ordinal), json.Select(p => p.Key));
        Assert.Contains("\n  \"alpha_pattern\": {", text);
        Assert.Equal("LORA", json["peft_type"]!.GetValue<string>());
        Assert.True(json["inference_mode"]!.GetValue<bool>());
        Assert.Equal(AdapterConfigFile.PeftVersion, json["peft_version"]!.GetValue<string>());
        Assert.Equal(8, json["lora_alpha"]!.GetValue<int>());
        Assert.Equal(6, json["rank_pattern"]!["layers.1.q"]!.GetValue<int>());
        Assert.Equal("none", json["bias"]!.GetValue<string>());
        Assert.Null(json["auto_mapping"]);
    }

    [Fact]
    public void RoundTripGivesIdenticalOutputs()
    {
        var model = BaseTower(2);
        var peft = PeftModel.Create(model, RichConfig());
        TestUtil.RandomizeAdapters(peft);
        using (no_grad())
        {
            ((TorchSharp.Modules.Linear)peft.SavedModules.Single().Wrapper.GetCopy("default")).bias!.add_(0.5f);
        }

        model.eval();
        var x = randn(3, 8);
        var expected = model.forward(x).detach();
        peft.SavePretrained(Dir("rt"));

        var fresh = BaseTower(2);
        var loaded = PeftModel.FromPretrained(fresh, Dir("rt"));
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-6, 1e-6);
        Assert.Empty(loaded.GetTrainableParameters());
        Assert.False(fresh.training);
        var config = (LoraConfig)loaded.GetConfig("default");
        Assert.Equal(6, config.RankPattern["layers.1.q"]);
        Assert.Equal(3, config.AlphaPattern["layers.2.v"]);
        Assert.Equal(0.1, config.LoraDropout);
        Assert.Equal("CAUSAL_LM", config.TaskType);
        Assert.Equal(["lm_head"], config.ModulesToSave);
        Assert.Empty(loaded.Warnings);

        var trainable = PeftModel.FromPretrained(BaseTower(2), Dir("rt"), isTrainable: true);
        Assert.NotEmpty(trainable.GetTrainableParameters());
    }

    [Fact]
    public void NonDefaultAdaptersGoToSubfoldersAndLoadUnderAnyName()
    {
        var model = BaseTower(3);
        var peft = PeftModel.Create(model, RichConfig());
        peft.AddAdapter("other", new LoraConfig { R = 2, TargetModules = TargetModules.FromNames("k") });
        TestUtil.RandomizeAdapters(peft, "default");
        using (no_grad())
        {
            foreach (var m in peft.ModulesOf("other"))
            {
                ((LoraPath)m.Layer.GetPath("other")).B.fill_(0.25f);
            }
        }

        peft.SavePretrained(Dir("multi"));
        Assert.True(File.Exists(Path.Combine(Dir("multi"), "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(Dir("multi"), "other", "adapter_model.safetensors")));

        var fresh = BaseTower(3);
        var loaded = PeftModel.FromPretrained(fresh, Dir("multi"));
        loaded.LoadAdapter(Path.Combine(Dir("multi"), "other"), "renamed");
        Assert.Equal(["default"], loaded.ActiveAdapters);
        loaded.SetAdapter("renamed");
        peft.SetAdapter("other");
        var x = randn(2, 8);
        model.eval();
        TestUtil.AssertClose(fresh.forward(x).detach(), model.forward(x).detach(), 1e-6, 1e-6);
    }

    [Fact]
    public void HalfPrecisionFilesLoadIntoFloatParameters()
    {
        var model = BaseTower(4);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.FromNames("q") });
        TestUtil.RandomizeAdapters(peft);
        peft.SavePretrained(Dir("half"));
        var path = Path.Combine(Dir("half"), PeftModel.WeightsFileName);
        var tensors = SafetensorsFile.ReadAll(path).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        SafetensorsWriter.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var loaded = PeftModel.FromPretrained(BaseTower(4), Dir("half"));
        var path0 = (LoraPath)loaded.AdaptedModules[0].Layer.GetPath("default");
        Assert.Equal(ScalarType.Float32, path0.B.dtype);
        TestUtil.AssertClose(path0.B, tensors[$"base_model.model.{loaded.AdaptedModules[0].Name}.lora_B.weight"].to(ScalarType.Float32), 0, 0);
    }

    [Fact]
    public void LoadingErrorsListKeysByName()
    {
        var peft = PeftModel.Create(BaseTower(5), new LoraConfig { TargetModules = TargetModules.FromNames("q", "v") });
        peft.SavePretrained(Dir("bad"));
        var path = Path.Combine(Dir("bad"), PeftModel.WeightsFileName);
        var tensors = SafetensorsFile.ReadAll(path);
        tensors.Remove("base_model.model.layers.0.q.lora_A.weight");
        tensors["base_model.model.layers.0.v.lora_B.weight"] = zeros(8, 5);
        tensors["base_model.model.layers.0.nonsense.weight"] = zeros(2);
        tensors["base_model.model.layers.0.q.ranknum"] = tensor(4.0f);
        SafetensorsWriter.Save(path, tensors);

        var error = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(BaseTower(5), Dir("bad")));
        Assert.Equal(["base_model.model.layers.0.q.lora_A.weight"], error.MissingKeys);
        Assert.Equal(["base_model.model.layers.0.nonsense.weight"], error.UnexpectedKeys);
        Assert.Contains("layers.0.v.lora_B.weight: file [8, 5] vs model [8, 8]", Assert.Single(error.ShapeMismatches));
        Assert.Contains("missing key(s)", error.Message);

        tensors["base_model.model.layers.0.v.lora_B.weight"] = zeros(8, 8);
        SafetensorsWriter.Save(path, tensors);
        var lenient = PeftModel.FromPretrained(BaseTower(5), Dir("bad"), strict: false);
        Assert.Contains(lenient.Warnings, w => w.Contains("layers.0.q.lora_A.weight") && w.Contains("nonsense"));
    }

    [Fact]
    public void ManyMissingKeysAreCountedAfterTheFirstTen()
    {
        var names = Enumerable.Range(0, 25).Select(i => $"k{i}").ToList();
        var message = AdapterLoadException.Describe("f", names, [], []);
        Assert.Contains("25 missing key(s): k0, k1", message);
        Assert.Contains("k9, … (15 more)", message);
        Assert.DoesNotContain("k10", message);
    }

    [Fact]
    public void LegacyPickleAdaptersAreRefusedWithAnExplanation()
    {
        var peft = PeftModel.Create(BaseTower(6), new LoraConfig { TargetModules = TargetModules.FromNames("q") });
        peft.SavePretrained(Dir("legacy"));
        File.Move(Path.Combine(Dir("legacy"), PeftModel.WeightsFileName), Path.Combine(Dir("legacy"), PeftModel.LegacyWeightsFileName));
        var error = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(BaseTower(6), Dir("legacy")));
        Assert.Contains("pickle", error.Message);
    }

    [Fact]
    public void ConfigFilesFromPeftParseWithEveryField()
    {
        var warnings = new List<string>();
        var config = (LoraConfig)AdapterConfigFile.Read(Path.Combine(Interop, "bert-lora-patterns", "adapter", AdapterConfigFile.FileName), warnings);
        Assert.Empty(warnings);
        Assert.Equal(4, config.R);
        Assert.Equal(8, config.LoraAlpha);
        Assert.Equal(0.1, config.LoraDropout);
        Assert.Equal(["value", "query"], config.TargetModules!.Names);
        Assert.Equal(["classifier", "score"], config.ModulesToSave);
        Assert.Equal(6, config.RankPattern["encoder.layer.1.attention.self.query"]);
        Assert.Equal(3, config.AlphaPattern["encoder.layer.1.attention.self.query"]);
        Assert.Equal("SEQ_CLS", config.TaskType);
        Assert.Equal("tiny-bert", config.BaseModelNameOrPath);

        var gpt2 = (LoraConfig)AdapterConfigFile.Read(Path.Combine(Interop, "gpt2-lora-c_attn", "adapter", AdapterConfigFile.FileName));
        Assert.True(gpt2.FanInFanOut);
        Assert.Equal(16, gpt2.LoraAlpha);
    }

    [Fact]
    public void ConfigRoundTripKeepsEveryFieldAndUnknownOnes()
    {
        var config = RichConfig();
        config.ExcludeModules = TargetModules.FromRegex(".*lm_head");
        config.LayersToTransform = [0, 2];
        config.LayersPattern = ["layers"];
        config.Bias = BiasMode.AdapterOnly;
        config.UseRslora = true;
        config.InitLoraWeights = LoraInit.Gaussian;
        config.BaseModelNameOrPath = "my/base";
        config.Revision = "abc";
        config.ExtraFields["future_option"] = JsonValue.Create(42);
        var path = Path.Combine(_temp.FullName, "adapter_config.json");
        AdapterConfigFile.Write(path, config);
        var warnings = new List<string>();
        var back = (LoraConfig)AdapterConfigFile.Read(path, warnings);
        Assert.Equal(AdapterConfigFile.ToJson(config), AdapterConfigFile.ToJson(back));
        Assert.Equal(BiasMode.AdapterOnly, back.Bias);
        Assert.True(back.UseRslora);
        Assert.Equal(LoraInit.Gaussian, back.InitLoraWeights);
        Assert.Equal([0, 2], back.LayersToTransform);
        Assert.Equal(TargetModulesKind.Regex, back.ExcludeModules!.Kind);
        Assert.Equal(42, back.ExtraFields["future_option"]!.GetValue<int>());
        Assert.Contains(warnings, w => w.Contains("future_option"));
        Assert.Contains("\"bias\": \"lora_only\"", File.ReadAllText(path));
    }

    [Theory]
    [InlineData("{\"peft_type\":\"LORA\",\"lora_bias\":true}", "lora_bias", "unsupported option")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":\"eight\"}", "r", "expected an integer")]
    [InlineData("{\"peft_type\":\"LORA\",\"bias\":\"some\"}", "bias", "not one of")]
    [InlineData("{\"peft_type\":\"IA3\"}", "peft_type", "not a method PeftSharp implements")]
    [InlineData("{\"r\":4}", "peft_type", "missing")]
    [InlineData("{\"peft_type\":\"LORA\",\"task_type\":\"SUMMARIZE\"}", "task_type", "not one of")]
    [InlineData("{\"peft_type\":\"LORA\",\"rank_pattern\":{\"q\":1.5}}", "rank_pattern.q", "expected an integer")]
    [InlineData("[1]", null, "expected a JSON object")]
    [InlineData("{\"peft_type\":", null, "not valid JSON")]
    public void BadConfigsNameTheFieldAndTheProblem(string text, string? field, string problem)
    {
        var path = Path.Combine(_temp.FullName, "adapter_config.json");
        File.WriteAllText(path, text);
        var error = Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(path));
        Assert.Equal(field, error.Field);
        Assert.Contains(problem, error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void PeftBertAdapterLoadsOntoMatchingModuleNames()
    {
        var root = Path.Combine(Interop, "bert-lora-patterns");
        var model = CheckpointTree.Build(Path.Combine(root, "base"));
        var report = ModelWeights.Load(model, Path.Combine(root, "base"), strict: false);
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight", report.Loaded);
        var peft = PeftModel.FromPretrained(model, Path.Combine(root, "adapter"));
        Assert.Equal(4, peft.AdaptedModules.Count);

        using var file = SafetensorsFile.Open(Path.Combine(root, "adapter", PeftModel.WeightsFileName));
        var query1 = peft.AdaptedModules.Single(m => m.Name == "bert.encoder.layer.1.attention.self.query").Layer;
        var path = (LoraPath)query1.GetPath("default");
        Assert.Equal(6, path.Rank);
        Assert.Equal(3.0 / 6, path.Scaling, 12);
        Assert.Equal(2.0, ((LoraPath)peft.AdaptedModules.Single(m => m.Name == "bert.encoder.layer.0.attention.self.value").Layer.GetPath("default")).Scaling, 12);
        using var a = file.Read("base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight");
        using var b = file.Read("base_model.model.bert.encoder.layer.1.attention.self.query.lora_B.weight");
        Assert.True(TestUtil.Identical(path.A, a));

        // The adapted layer computes W x + b + (3/6) B A x with the file's tensors.
        using var checkpoint = SafetensorsCheckpoint.Open(Path.Combine(root, "base"));
        using var w = checkpoint.Read("bert.encoder.layer.1.attention.self.query.weight");
        using var bias = checkpoint.Read("bert.encoder.layer.1.attention.self.query.bias");
        var x = randn(5, 32);
        var expected = x.matmul(w.t()) + bias + x.matmul(a.t()).matmul(b.t()) * 0.5;
        TestUtil.AssertClose(query1.forward(x).detach(), expected, 1e-5, 1e-5);

        using var classifier = file.Read("base_model.model.classifier.weight");
        Assert.True(TestUtil.Identical(((TorchSharp.Modules.Linear)peft.SavedModules.Single().Wrapper.GetCopy("default")).weight!, classifier));
    }

    [Fact]
    public void PeftGpt2Conv1DAdapterLoadsWithFanInFanOut()
    {
        var root = Path.Combine(Interop, "gpt2-lora-c_attn");
        var model = CheckpointTree.Build(Path.Combine(root, "base"), conv1d: true);
        ModelWeights.Load(model, Path.Combine(root, "base"), strict: false);
        var peft = PeftModel.FromPretrained(model, Path.Combine(root, "adapter"));
        Assert.All(peft.AdaptedModules, m => Assert.True(m.Layer.Target.FanInFanOut));
        var layer = peft.AdaptedModules[0].Layer;
        var x = randn(3, layer.Target.InFeatures);
        var unmerged = layer.forward(x).detach();
        peft.MergeAdapter();
        TestUtil.AssertClose(layer.forward(x).detach(), unmerged, 1e-5, 1e-5);
    }

    [Fact]
    public void BaseWeightsLoadStrictlyWithANameMap()
    {
        var source = new Mlp(8, 16, 3);
        var state = source.state_dict().ToDictionary(kv => "model." + kv.Key, kv => kv.Value);
        SafetensorsWriter.Save(Path.Combine(_temp.FullName, "model.safetensors"), state);
        var target = new Mlp(8, 16, 3);
        Assert.Throws<WeightsLoadException>(() => ModelWeights.Load(target, _temp.FullName));
        var report = ModelWeights.Load(target, _temp.FullName, name => name["model.".Length..]);
        Assert.Equal(6, report.Loaded.Count);
        var x = randn(2, 8);
        Assert.True(TestUtil.Identical(target.forward(x), source.forward(x)));

        var wrong = new Mlp(8, 17, 3);
        var error = Assert.Throws<WeightsLoadException>(() => ModelWeights.Load(wrong, _temp.FullName, name => name["model.".Length..]));
        Assert.Contains("shape mismatch", error.Message);
        Assert.Contains("fc1.weight", error.Message);
    }
}
