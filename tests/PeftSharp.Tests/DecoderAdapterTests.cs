using PeftSharp.Adapters;
using PeftSharp.Methods.TiedLora;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// Decoder adapters outside the process that trained them: PEFT <c>CAUSAL_LM</c> checkpoints (keys and
/// fields as PEFT writes them, read back by the fixture-reading path), <c>peft generate</c> in a fresh
/// process, <c>peft merge</c> (a Hugging Face directory in the base's dtype, merged = unmerged greedy),
/// <c>peft export</c> and <c>peft inspect</c>, and Tied-LoRA's per-type-and-shape groups.
/// </summary>
public sealed class DecoderAdapterTests : IDisposable
{
    private static readonly string Interop = Path.Combine(AppContext.BaseDirectory, "Interop");
    private static readonly List<long[]> PromptIds = [[1, 5, 9, 14, 3], [1, 22, 7], [1, 30, 31, 12, 40, 8, 17]];
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-decoder-adapters-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string Dir(string name) => Path.Combine(_temp.FullName, name);

    public static TheoryData<string> Fixtures() => ["llama-lora-all-linear", "phi3-lora-fused", "qwen2-lora-bias"];

    /// <summary>A tiny decoder saved as a Hugging Face directory (with a stand-in tokenizer and chat template), in <paramref name="dtype"/>.</summary>
    private string SaveBase(string architecture, ScalarType dtype = ScalarType.Float32)
    {
        var dir = Dir($"{architecture}-{dtype}-base");
        var model = ContractDecoders.Create(architecture);
        using (no_grad())
        {
            var generator = new Generator(3);
            foreach (var parameter in model.parameters())
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 0.3);
            }
        }

        model.Config.Json["_name_or_path"] = "tiny-org/tiny-" + architecture;
        model.SavePretrained(dir, dtype);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"eos_token\": \"</s>\"}\n");
        File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}\n");
        return dir;
    }

    private static DecoderForCausalLM LoadBase(string dir, ScalarType dtype = ScalarType.Float32) =>
        (DecoderForCausalLM)PretrainedModel.FromPretrained(dir, dtype, strict: true, out _);

    /// <summary>Trains a method's causal-LM preset a few steps on <paramref name="baseDir"/>'s decoder and saves the adapter.</summary>
    private string TrainAdapter(string baseDir, string method, int steps = 6)
    {
        var model = LoadBase(baseDir);
        var info = AdapterMethodRegistry.Find(method)!;
        var peft = PeftModel.Create(model, info.CreateTrainingConfig(steps, AdapterTask.CausalLanguageModeling)!, generator: new Generator(5));
        var ids = ContractDecoders.Ids();
        var options = new TrainerOptions { MaxSteps = steps, LearningRate = 2e-2, WarmupSteps = 0, Seed = 1, OutputDirectory = Dir($"run-{method}"), LogEvery = 1000 };
        var task = new LossTask(new DecoderLogits(model), 1, (_, _) => (ids, ids), CausalLmLoss.Compute);
        new TrainingLoop(task, options, ParameterGroups.ForAdapter(peft, options), peft, TextWriter.Null).Run(resume: false);
        var adapter = Dir($"{Path.GetFileName(baseDir)}-{method}-adapter");
        peft.SavePretrained(adapter);
        return adapter;
    }

    private static List<long[]> Greedy(DecoderForCausalLM model) =>
        DecoderGenerator.Generate(model, PromptIds, new GenerationOptions { MaxNewTokens = 6 });

    private string WritePrompts()
    {
        var path = Dir("prompts.jsonl");
        File.WriteAllLines(path, PromptIds.Select(p => new JsonObject { ["input_ids"] = new JsonArray([.. p.Select(id => (JsonNode?)id)]) }.ToJsonString()));
        return path;
    }

    private static List<long[]> ReadOutputIds(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!["output_ids"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray()).ToList();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void OurCausalLmAdaptersUsePeftsKeysAndReadBackThroughTheFixturePath(string fixture)
    {
        var baseDir = Path.Combine(Interop, fixture, "base");
        var fixtureAdapter = Path.Combine(Interop, fixture, "adapter");

        // The same settings as the fixture, freshly initialised and moved off zero.
        var model = LoadBase(baseDir);
        var config = AdapterConfigFile.Read(Path.Combine(fixtureAdapter, AdapterConfigFile.FileName));
        config.BaseModelNameOrPath = null;
        var peft = PeftModel.Create(model, config, generator: new Generator(9));
        using (no_grad())
        {
            var generator = new Generator(4);
            foreach (var tensor in peft.AdapterStateDict(peft.ActiveAdapter).Values)
            {
                tensor.add_(randn(tensor.shape, generator: generator) * 0.1);
            }
        }

        var written = peft.AdapterStateDict(peft.ActiveAdapter).ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var dir = Dir(fixture);
        peft.SavePretrained(dir);

        // PEFT's key set for the same targets, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
        using (var ours = SafetensorsFile.Open(Path.Combine(dir, PeftModel.WeightsFileName)))
        using (var theirs = SafetensorsFile.Open(Path.Combine(fixtureAdapter, PeftModel.WeightsFileName)))
        {
            Assert.Equal(theirs.Names.Order(StringComparer.Ordinal), ours.Names.Order(StringComparer.Ordinal));
            Assert.All(ours.Entries, e => Assert.Equal(theirs.Entries.Single(t => t.Name == e.Name).Shape, e.Shape));
            Assert.Contains(ours.Names, n => n.StartsWith("base_model.model.model.layers.0.self_attn.", StringComparison.Ordinal) && n.EndsWith(".lora_A.weight", StringComparison.Ordinal));
        }

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, AdapterConfigFile.FileName)))!;
        Assert.Equal("CAUSAL_LM", json["task_type"]!.GetValue<string>());
        Assert.Equal("base", json["base_model_name_or_path"]!.GetValue<string>());
        Assert.Equal("LORA", json["peft_type"]!.GetValue<string>());

        // Read back exactly as the interop fixtures are read.
        var fresh = LoadBase(baseDir);
        var loaded = PeftModel.FromPretrained(fresh, dir);
        var back = loaded.AdapterStateDict(loaded.ActiveAdapter);
        Assert.Equal(written.Keys.Order(StringComparer.Ordinal), back.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, tensor) in written)
        {
            Assert.True(TestUtil.Identical(tensor, back[key]), $"{key} changed in the round trip");
        }
    }

    /// <summary>Every registered method with a causal-LM preset.</summary>
    public static TheoryData<string> CausalLmMethods() =>
        [.. AdapterMethodRegistry.All.Where(m => m.CreateTrainingConfig(10, AdapterTask.CausalLanguageModeling) is not null).Select(m => m.Name)];

    [Theory]
    [MemberData(nameof(CausalLmMethods))]
    public void AFreshPeftGenerateProcessGreedilyDecodesAsTheTrainingProcess(string method)
    {
        var baseDir = SaveBase("llama");
        var adapter = TrainAdapter(baseDir, method);
        var config = AdapterConfigFile.Read(Path.Combine(adapter, AdapterConfigFile.FileName));
        Assert.Equal("tiny-org/tiny-llama", config.BaseModelNameOrPath);
        var model = LoadBase(baseDir);
        PeftModel.FromPretrained(model, adapter);
        var expected = Greedy(model);

        var output = Dir("generated.jsonl");
        var (code, stdout, stderr) = Cli.Peft("generate", "--base", baseDir, "--adapter", adapter, "--data", WritePrompts(), "--output", output, "--greedy", "--max-new-tokens", "6");
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal(expected, ReadOutputIds(output));
    }

    [Theory]
    [InlineData("llama", "lora")]
    [InlineData("phi3", "tied_lora")]
    public void PeftMergeWritesAHuggingFaceDirectoryThatGeneratesAsTheAdapter(string architecture, string method)
    {
        var baseDir = SaveBase(architecture);
        var adapter = TrainAdapter(baseDir, method);
        var unmergedModel = LoadBase(baseDir);
        PeftModel.FromPretrained(unmergedModel, adapter);
        var unmerged = Greedy(unmergedModel);

        var merged = Dir($"{architecture}-merged");
        var (code, stdout, stderr) = Cli.Peft("merge", adapter, "--base", baseDir, "--output", merged);
        Assert.True(code == 0, stdout + stderr);

        // Our loader reads it strictly, with no adapter: the same greedy ids.
        Assert.Equal(unmerged, Greedy(LoadBase(merged)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(merged, "config.json")))!;
        Assert.Equal("float32", config["torch_dtype"]!.GetValue<string>());
        Assert.Equal(architecture == "phi3" ? "Phi3ForCausalLM" : "LlamaForCausalLM", config["architectures"]![0]!.GetValue<string>());
        foreach (var file in new[] { "tokenizer_config.json", "chat_template.jinja" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(baseDir, file)), File.ReadAllBytes(Path.Combine(merged, file)));
        }

        Assert.Equal([2], GenerationConfig.EosTokenIds(merged));
        using var checkpoint = SafetensorsFile.Open(Path.Combine(merged, SafetensorsCheckpoint.SingleFileName));
        using var original = SafetensorsFile.Open(Path.Combine(baseDir, SafetensorsCheckpoint.SingleFileName));
        Assert.Equal(original.Names.Order(StringComparer.Ordinal), checkpoint.Names.Order(StringComparer.Ordinal));
        Assert.Equal(architecture == "phi3", checkpoint.Contains("lm_head.weight"));
        Assert.DoesNotContain(checkpoint.Names, n => n.Contains("lora", StringComparison.Ordinal) || n.Contains("base_layer", StringComparison.Ordinal));
        Assert.False(Directory.Exists(merged + ".tmp"));
    }

    [Fact]
    public void MergingIntoABf16BaseComputesInFp32AndStoresBf16()
    {
        var baseDir = SaveBase("llama", ScalarType.BFloat16);
        var adapter = TrainAdapter(baseDir, "lora");
        var merged = Dir("bf16-merged");
        var (code, stdout, stderr) = Cli.Peft("merge", adapter, "--base", baseDir, "--output", merged);
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal("bfloat16", JsonNode.Parse(File.ReadAllText(Path.Combine(merged, "config.json")))!["torch_dtype"]!.GetValue<string>());

        // Every merged weight is bf16(fp32 base + fp32 ΔW), the independent fp32 sum rounded once.
        var reference = LoadBase(baseDir);
        var peft = PeftModel.FromPretrained(reference, adapter);
        using var file = SafetensorsFile.Open(Path.Combine(merged, SafetensorsCheckpoint.SingleFileName));
        Assert.All(file.Entries, e => Assert.Equal("BF16", e.DType));
        foreach (var module in peft.ModulesOf(peft.ActiveAdapter))
        {
            using var scope = NewDisposeScope();
            var path = module.Layer.GetPath(peft.ActiveAdapter);
            var expected = (module.Layer.Target.Weight.detach().to(ScalarType.Float32) + path.DeltaWeight().to(ScalarType.Float32)).to(ScalarType.BFloat16);
            Assert.True(TestUtil.Identical(expected, file.Read(module.Name + ".weight")), $"{module.Name}: merged weight is not the fp32 merge rounded to bf16");
        }

        // Held in bf16 like the base, the merged model decodes as the bf16 base with the fp32 adapter.
        var unmergedModel = LoadBase(baseDir, ScalarType.BFloat16);
        PeftModel.FromPretrained(unmergedModel, adapter);
        Assert.Equal(Greedy(unmergedModel), Greedy(LoadBase(merged, ScalarType.BFloat16)));
    }

    [Fact]
    public void PeftExportAndInspectWorkOnADecoderAdapter()
    {
        var baseDir = SaveBase("llama");
        var adapter = TrainAdapter(baseDir, "sora");
        var exported = Dir("exported");
        var (code, stdout, stderr) = Cli.Peft("export", adapter, "--base", baseDir, "--output", exported);
        Assert.True(code == 0, stdout + stderr);
        var config = AdapterConfigFile.Read(Path.Combine(exported, AdapterConfigFile.FileName));
        Assert.Equal("LORA", config.PeftType);
        Assert.Equal("CAUSAL_LM", config.TaskType);
        Assert.Equal("tiny-org/tiny-llama", config.BaseModelNameOrPath);

        // The exported plain LoRA gives the trained adapter's logits.
        var ids = ContractDecoders.Ids();
        var source = LoadBase(baseDir);
        PeftModel.FromPretrained(source, adapter);
        var target = LoadBase(baseDir);
        PeftModel.FromPretrained(target, exported);
        using (no_grad())
        {
            TestUtil.AssertClose(target.Forward(ids), source.Forward(ids), 1e-4, 1e-4);
        }

        (code, stdout, stderr) = Cli.Peft("inspect", adapter, "--base", baseDir);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("method: sora (peft_type SORA)", stdout, StringComparison.Ordinal);
        Assert.Contains("base: tiny-org/tiny-llama", stdout, StringComparison.Ordinal);
        foreach (var module in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
        {
            Assert.Contains($"| model.layers.1.{module} |", stdout, StringComparison.Ordinal);
        }

        Assert.Contains("total: 14 modules", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("llama", 7)]
    [InlineData("phi3", 4)]
    public void TiedLoraTiesEachProjectionTypeAcrossLayersButNeverTwoTypes(string architecture, int groups)
    {
        var model = ContractDecoders.Create(architecture);
        var config = TiedLoraConfig.FromPreset("TL6", 4);
        config.TargetModules = TargetModules.AllLinear;
        var peft = PeftModel.Create(model, config, generator: new Generator(2));
        var pairs = peft.ModulesOf(peft.ActiveAdapter).Select(m => (m.Name, Pair: ((TiedLoraPath)m.Layer.GetPath(peft.ActiveAdapter)).Pair)).ToList();

        // One pair per projection type: q and o (both 32 → 32) apart, k and v (32 → 16 with GQA) apart, layers 0 and 1 together.
        Assert.Equal(groups, pairs.Select(p => p.Pair).Distinct().Count());
        foreach (var group in pairs.GroupBy(p => p.Name[(p.Name.LastIndexOf('.') + 1)..]))
        {
            Assert.Single(group.Select(p => p.Pair).Distinct());
            Assert.Equal(2, group.Count());
        }

        var dir = Dir("tied");
        peft.SavePretrained(dir);
        using var file = SafetensorsFile.Open(Path.Combine(dir, PeftModel.WeightsFileName));
        var shared = file.Names.Where(n => !n.StartsWith(PeftModel.KeyPrefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(2 * groups, shared.Count);
        if (architecture == "llama")
        {
            Assert.Contains("base_model.tied_lora.q_proj.32x32.lora_A", shared);
            Assert.Contains("base_model.tied_lora.o_proj.32x32.lora_A", shared);
            Assert.Contains("base_model.tied_lora.k_proj.32x16.lora_B", shared);
            Assert.Contains("base_model.tied_lora.v_proj.32x16.lora_B", shared);
        }
        else
        {
            Assert.Contains("base_model.tied_lora.qkv_proj.32x64.lora_A", shared);
            Assert.Contains("base_model.tied_lora.gate_up_proj.32x80.lora_A", shared);
        }
    }
}
