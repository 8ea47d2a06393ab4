using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class ModelTests : IDisposable
{
    private static readonly string Interop = Path.Combine(AppContext.BaseDirectory, "Interop");
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-models-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string Dir(string name) => Path.Combine(_temp.FullName, name);

    /// <summary>Writes a tiny config.json of <paramref name="architecture"/> and returns its directory.</summary>
    private string TinyConfig(string architecture, string name)
    {
        var dir = Dir(name);
        Directory.CreateDirectory(dir);
        JsonObject json = architecture == "GPT2LMHeadModel"
            ? new JsonObject
            {
                ["architectures"] = new JsonArray(architecture), ["model_type"] = "gpt2", ["vocab_size"] = 40, ["n_embd"] = 16, ["n_layer"] = 2,
                ["n_head"] = 2, ["n_positions"] = 24, ["n_inner"] = null, ["activation_function"] = "gelu_new", ["layer_norm_epsilon"] = 1e-5,
                ["bos_token_id"] = 1, ["eos_token_id"] = 1,
            }
            : new JsonObject
            {
                ["architectures"] = new JsonArray(architecture), ["model_type"] = architecture.StartsWith("Roberta", StringComparison.Ordinal) ? "roberta" : "bert",
                ["vocab_size"] = 40, ["hidden_size"] = 16, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2, ["intermediate_size"] = 24,
                ["hidden_act"] = "gelu", ["max_position_embeddings"] = 32, ["type_vocab_size"] = 2, ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = 1,
                ["id2label"] = new JsonObject { ["0"] = "no", ["1"] = "yes", ["2"] = "maybe" },
            };
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        return dir;
    }

    public static TheoryData<string> Architectures() =>
        ["BertForSequenceClassification", "RobertaForSequenceClassification", "BertForMaskedLM", "RobertaForMaskedLM", "GPT2LMHeadModel"];

    private static Tensor Ids(long seed, int batch = 2, int length = 9)
    {
        var generator = new Generator((ulong)seed);
        return randint(3, 40, [batch, length], generator: generator);
    }

    [Theory]
    [InlineData("bert-lora-patterns", "logits")]
    [InlineData("bert-adalora-compact", "logits")]
    [InlineData("bert-dora", "logits")]
    [InlineData("gpt2-lora-c_attn", "next_token_logits")]
    [InlineData("deberta-v2-lora", "logits")]
    public async Task InteropCasesReproduceThroughPeftPredict(string name, string field)
    {
        var root = Path.Combine(Interop, name);
        var output = Dir(name + ".jsonl");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "peft.dll"), "predict", "--base", Path.Combine(root, "base"), "--adapter", Path.Combine(root, "adapter"), "--data", Path.Combine(root, "inputs.jsonl"), "--output", output })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"peft predict failed: {stdout} {await stderr}");

        var tolerance = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "case.json")))!;
        var (rtol, atol) = (tolerance["rtol"]!.GetValue<double>(), tolerance["atol"]!.GetValue<double>());
        var expected = File.ReadAllLines(Path.Combine(root, "expected.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToList();
        var actual = File.ReadAllLines(output).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var want = expected[i][field]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            var got = actual[i][field]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            Assert.Equal(want.Length, got.Length);
            for (var j = 0; j < want.Length; j++)
            {
                Assert.True(Math.Abs(got[j] - want[j]) <= atol + rtol * Math.Abs(want[j]), $"record {i}, {field}[{j}]: got {got[j]}, want {want[j]}");
            }

            if (expected[i]["label"] is { } label)
            {
                Assert.Equal(label.GetValue<string>(), actual[i]["label"]!.GetValue<string>());
            }
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void SaveAndLoadRoundTripEachFamily(string architecture)
    {
        manual_seed(1);
        var model = PretrainedModel.Create(TinyConfig(architecture, architecture));
        Assert.Equal(architecture, model.ArchitectureName);
        model.eval();
        var ids = Ids(2);
        using var noGrad = no_grad();
        var expected = model.Forward(ids);
        model.SavePretrained(Dir("saved-" + architecture));
        var loaded = PretrainedModel.FromPretrained(Dir("saved-" + architecture));
        Assert.Equal(model.GetType(), loaded.GetType());
        Assert.True(TestUtil.Identical(loaded.Forward(ids), expected));
        using var checkpoint = SafetensorsCheckpoint.Open(Dir("saved-" + architecture));
        var prefix = architecture switch { "GPT2LMHeadModel" => "transformer.h.0.attn.c_attn.weight", var a when a.StartsWith("Roberta", StringComparison.Ordinal) => "roberta.encoder.layer.0.attention.self.query.weight", _ => "bert.encoder.layer.0.attention.self.query.weight" };
        Assert.Contains(prefix, checkpoint.Names);
    }

    [Theory]
    [InlineData("BertForSequenceClassification")]
    [InlineData("GPT2LMHeadModel")]
    public void TokenIdsOutsideTheVocabularyAreAClearError(string architecture)
    {
        var model = PretrainedModel.Create(TinyConfig(architecture, "ids-" + architecture));
        var error = Assert.Throws<ArgumentException>(() => model.Forward(tensor(new long[] { 3, 40 }).unsqueeze(0)));
        Assert.Contains("[0, 40)", error.Message);
    }

    [Fact]
    public void MissingAndMisShapedWeightsAreReportedByName()
    {
        manual_seed(2);
        var model = PretrainedModel.Create(TinyConfig("BertForSequenceClassification", "bad"));
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        state.Remove("classifier.weight");
        state["bert.pooler.dense.weight"] = zeros(3, 3);
        SafetensorsWriter.Save(Path.Combine(Dir("bad"), "model.safetensors"), state);
        var error = Assert.Throws<WeightsLoadException>(() => PretrainedModel.FromPretrained(Dir("bad")));
        Assert.Contains("bert.pooler.dense.weight: checkpoint [3, 3]", error.Message);
        Assert.Contains("classifier.weight", error.Message);
    }

    [Theory]
    [InlineData("BertForSequenceClassification")]
    [InlineData("RobertaForSequenceClassification")]
    public void PaddingDoesNotChangeTheEncoderOutput(string architecture)
    {
        manual_seed(3);
        var model = PretrainedModel.Create(TinyConfig(architecture, "pad-" + architecture));
        model.eval();
        using var noGrad = no_grad();
        var ids = Ids(4, batch: 1, length: 7);
        var alone = model.Forward(ids, ones_like(ids));
        var padded = cat([ids, full(1, 5, 1L)], 1);
        var mask = cat([ones_like(ids), zeros(1, 5, dtype: ScalarType.Int64)], 1);
        TestUtil.AssertClose(model.Forward(padded, mask), alone, 1e-5, 1e-5);
        Assert.False(model.Forward(padded).allclose(alone, 1e-4, 1e-4), "without the mask the padding must matter");
    }

    [Fact]
    public void GptCausalMaskAndPaddingProtectEarlierPositions()
    {
        manual_seed(5);
        var model = (Gpt2LMHeadModel)PretrainedModel.Create(TinyConfig("GPT2LMHeadModel", "causal"));
        model.eval();
        using var noGrad = no_grad();
        var ids = Ids(6, batch: 1, length: 8);
        var logits = model.Forward(ids);
        var changed = ids.clone();
        changed[0, 6] = (ids[0, 6] + 1) % 40;
        var after = model.Forward(changed);
        TestUtil.AssertClose(after[.., ..6], logits[.., ..6], 1e-6, 1e-6);
        Assert.False(after[.., 6..].allclose(logits[.., 6..]));

        var padded = cat([ids, full(1, 3, 1L)], 1);
        var mask = cat([ones_like(ids), zeros(1, 3, dtype: ScalarType.Int64)], 1);
        TestUtil.AssertClose(model.Forward(padded, mask)[.., ..8], logits, 1e-5, 1e-5);
    }

    [Fact]
    public void GenerationIsDeterministicUnderASeed()
    {
        manual_seed(7);
        var model = (Gpt2LMHeadModel)PretrainedModel.Create(TinyConfig("GPT2LMHeadModel", "gen"));
        model.eval();
        var prompt = Ids(8, batch: 2, length: 4);
        var greedy1 = model.Generate(prompt, 6);
        var greedy2 = model.Generate(prompt, 6);
        Assert.True(TestUtil.Identical(greedy1, greedy2));
        Assert.True(greedy1.shape[1] <= 10 && greedy1.shape[1] > 4);
        Assert.True(TestUtil.Identical(greedy1[.., ..4], prompt));
        var sample1 = model.Generate(prompt, 8, topK: 5, generator: new Generator(42));
        var sample2 = model.Generate(prompt, 8, topK: 5, generator: new Generator(42));
        Assert.True(TestUtil.Identical(sample1, sample2));
        var first = model.Forward(prompt)[.., -1].argmax(-1);
        if (greedy1.shape[1] > 4)
        {
            Assert.True(TestUtil.Identical(greedy1[.., 4], first));
        }
    }

    [Theory]
    [InlineData("BertForSequenceClassification", 2 * 6 + 1)]
    [InlineData("RobertaForSequenceClassification", 2 * 6)]
    [InlineData("GPT2LMHeadModel", 2 * 4)]
    public void AllLinearCoversEveryProjectionButTheHead(string architecture, int expected)
    {
        manual_seed(9);
        var model = PretrainedModel.Create(TinyConfig(architecture, "all-" + architecture));
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = TargetModules.AllLinear });
        Assert.Equal(expected, peft.AdaptedModules.Count);
        Assert.DoesNotContain(peft.AdaptedModules, m => m.Name.StartsWith("classifier", StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultTargetsComeFromTheModelType()
    {
        var bert = PeftModel.Create(PretrainedModel.Create(TinyConfig("BertForSequenceClassification", "default-bert")), new LoraConfig());
        Assert.All(bert.AdaptedModules, m => Assert.True(m.Name.EndsWith(".query", StringComparison.Ordinal) || m.Name.EndsWith(".value", StringComparison.Ordinal), m.Name));
        var gpt = PeftModel.Create(PretrainedModel.Create(TinyConfig("GPT2LMHeadModel", "default-gpt")), new LoraConfig());
        Assert.All(gpt.AdaptedModules, m => Assert.EndsWith(".c_attn", m.Name));
    }

    [Theory]
    [InlineData("BertForSequenceClassification")]
    [InlineData("RobertaForSequenceClassification")]
    [InlineData("GPT2LMHeadModel")]
    public void LoraTrainsAndMergesOnEachFamily(string architecture)
    {
        manual_seed(11);
        var model = PretrainedModel.Create(TinyConfig(architecture, "train-" + architecture));
        var isGpt = architecture == "GPT2LMHeadModel";
        var config = new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = TargetModules.FromNames(isGpt ? ["c_attn", "c_fc"] : ["query", "value"]) };
        if (!isGpt)
        {
            config.ModulesToSave = ["classifier"];
        }

        var peft = PeftModel.Create(model, config);
        var ids = Ids(12, batch: 8, length: 10);
        var labels = isGpt ? ids[.., 1..] : tensor(new long[] { 0, 1, 2, 0, 1, 2, 0, 1 });
        Tensor Loss()
        {
            var logits = model.Forward(ids);
            return isGpt
                ? nn.functional.cross_entropy(logits[.., ..^1].reshape(-1, 40), labels.reshape(-1))
                : nn.functional.cross_entropy(logits, labels);
        }

        model.train();
        using var optimizer = optim.AdamW(peft.GetTrainableParameters(), lr: 1e-2);
        float first = 0, last = 0;
        for (var step = 0; step < 60; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = Loss();
            loss.backward();
            optimizer.step();
            last = loss.item<float>();
            if (step == 0)
            {
                first = last;
            }
        }

        Assert.True(last < 0.7 * first, $"loss {first} → {last}");
        model.eval();
        using var noGrad = no_grad();
        var unmerged = model.Forward(ids);
        peft.MergeAdapter();
        TestUtil.AssertClose(model.Forward(ids), unmerged, 1e-4, 1e-4);
    }

    [Fact]
    public void ByteLevelBpeRoundTripsText()
    {
        var (vocab, merges) = TinyByteLevelBpe();
        var tokenizer = TextTokenizer.ByteLevelBpe(vocab, merges, roberta: false);
        foreach (var text in new[] { "the theme then", "Hello, wörld! 123 ∑", "" })
        {
            var ids = tokenizer.Encode(text).InputIds;
            Assert.Equal(text, tokenizer.Decode(ids));
        }

        Assert.True(tokenizer.Encode("the the").InputIds.Length < "the the".Length, "merges must shorten the sequence");
        var roberta = TextTokenizer.ByteLevelBpe(vocab, merges, roberta: true);
        var wrapped = roberta.Encode("the").InputIds;
        Assert.Equal(300, wrapped[0]);
        Assert.Equal(301, wrapped[^1]);
    }

    [Fact]
    public void WordPieceTokenizesPadsAndRoundTrips()
    {
        var vocab = string.Join('\n', new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", "." }) + "\n";
        var path = Path.Combine(_temp.FullName, "vocab.txt");
        File.WriteAllText(path, vocab);
        var tokenizer = TextTokenizer.TryLoad(_temp.FullName)!;
        var ids = tokenizer.Encode("The cats sat on the mat.").InputIds;
        Assert.Equal(new long[] { 2, 5, 6, 10, 7, 8, 5, 9, 11, 3 }, ids);
        Assert.Equal("the cats sat on the mat.", tokenizer.Decode(ids));
        Assert.Equal(4, tokenizer.MaskTokenId);
        using var batch = tokenizer.EncodeBatch(["the cat", "the cats sat on the mat"], maxLength: 6);
        Assert.Equal([2L, 6L], batch.InputIds.shape);
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0 }, batch.AttentionMask[0].data<long>().ToArray());
        Assert.Equal(0, batch.InputIds[0, 5].item<long>());
        Assert.Equal(3, batch.InputIds[1, 5].item<long>());
    }

    /// <summary>A byte-level BPE vocabulary: the 256 byte symbols, a few merges, and RoBERTa's specials at 300/301.</summary>
    private static (byte[] Vocab, byte[] Merges) TinyByteLevelBpe()
    {
        var symbols = new List<string>();
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var extra = 0;
        for (var b = 0; b < 256; b++)
        {
            symbols.Add(((char)(printable.Contains(b) ? b : 256 + extra++)).ToString());
        }

        var merges = new[] { ("t", "h"), ("th", "e"), ("Ġ", "the"), ("e", "m") };
        var vocab = new JsonObject();
        for (var i = 0; i < symbols.Count; i++)
        {
            vocab[symbols[i]] = i;
        }

        var next = symbols.Count;
        foreach (var (a, b) in merges)
        {
            vocab[a + b] = next++;
        }

        vocab["<s>"] = 300;
        vocab["</s>"] = 301;
        vocab["<pad>"] = 302;
        vocab["<|endoftext|>"] = 303;
        var mergesText = "#version: 0.2\n" + string.Join('\n', merges.Select(m => $"{m.Item1} {m.Item2}")) + "\n";
        return (System.Text.Encoding.UTF8.GetBytes(vocab.ToJsonString()), System.Text.Encoding.UTF8.GetBytes(mergesText));
    }
}
