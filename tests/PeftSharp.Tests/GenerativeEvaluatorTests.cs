using PeftSharp.Adapters;
using PeftSharp.Methods.DyLora;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training.CausalLanguageModeling;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>Generative evaluation of causal LMs: edit distance, g2p's metrics, JSONL references, and greedy generation scored against known references.</summary>
public sealed class GenerativeEvaluatorTests : IDisposable
{
    private static readonly string Tokenizers = Path.Combine(AppContext.BaseDirectory, "Interop", "tokenizers");
    private static readonly string[] Prompts = ["cat ->", "stormont ->", "a ->", "brewbaker and allee ->", "zebra ->"];
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("generative-eval-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Theory]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("flaw", "lawn", 2)]
    [InlineData("", "abc", 3)]
    [InlineData("abc", "", 3)]
    [InlineData("same", "same", 0)]
    [InlineData("ab", "ba", 2)]
    public void LevenshteinCountsInsertionsDeletionsAndSubstitutions(string source, string target, int expected)
    {
        Assert.Equal(expected, EditDistance.Levenshtein(source.ToCharArray(), target.ToCharArray()));
        Assert.Equal(expected, EditDistance.Levenshtein(target.ToCharArray(), source.ToCharArray()));
    }

    [Fact]
    public void WordAccuracyAndPhonemeErrorRateMatchHandComputedValues()
    {
        GenerationSample[] samples =
        [
            new("allee ->", " AH L IY", "AH L IY  "), // exact after trimming: 0 edits
            new("stormont ->", "S T AO R M", "S T AA R M OW"), // AO→AA, + OW: 2 edits
            new("brew ->", "B R UW", ""), // 3 deletions
            new("x ->", "EH K S", "EH  K   S"), // token-wise equal but not the same text: 0 edits, not an exact match
        ];
        Assert.Equal(1 / 4.0, GenerationMetrics.Find("word_accuracy").Compute(samples), 12);
        Assert.Equal(5 / 14.0, GenerationMetrics.Find("PHONEME_ERROR_RATE").Compute(samples), 12);
        Assert.False(GenerationMetrics.Find(GenerationMetrics.PhonemeErrorRate).HigherIsBetter);
        Assert.True(double.IsNaN(new TokenErrorRateMetric().Compute([new("p", " ", "A")])));
        var error = Assert.Throws<ArgumentException>(() => GenerationMetrics.Find("bleu"));
        Assert.Contains("word_accuracy", error.Message);
    }

    [Fact]
    public void ReferenceFilesAreReadWithTypedErrorsNamingLineAndField()
    {
        var path = Path.Combine(_temp.FullName, "test.jsonl");
        File.WriteAllText(path, "\uFEFF{\"prompt\":\"cat ->\",\"completion\":\" K AE T\"}\n\n{\"prompt\":\"a ->\",\"completion\":\" AH\",\"id\":3}\r\n");
        Assert.Equal([new GenerationExample("cat ->", " K AE T"), new GenerationExample("a ->", " AH")], GenerationExample.ReadJsonLines(path));
        foreach (var (line, field) in new[] { ("{\"prompt\":\"a ->\"}", "completion"), ("{\"prompt\":\"a ->\",\"completion\":\"  \"}", "completion"), ("{\"prompt\":3,\"completion\":\"A\"}", "prompt"), ("[1]", null) })
        {
            File.WriteAllText(path, "{\"prompt\":\"cat ->\",\"completion\":\" K AE T\"}\n" + line + "\n");
            var error = Assert.Throws<ConfigFormatException>(() => GenerationExample.ReadJsonLines(path));
            Assert.Equal($"{path}:2", error.FilePath);
            Assert.Equal(field, error.Field);
        }

        File.WriteAllText(path, "\n");
        Assert.Throws<ConfigFormatException>(() => GenerationExample.ReadJsonLines(path));
    }

    [Fact]
    public void ReferencesThatAreTheModelsOwnGreedyOutputScorePerfectlyAndAlteredOnesExactly()
    {
        var (model, encoder) = TinyModel();
        var tokenizer = encoder.Tokenizer!;
        const int steps = 6;

        // Independent references: each prompt alone (no padding), greedy, decoded without special tokens, cut at a newline.
        var greedy = Prompts.Select(p => DecoderGenerator.Generate(model, [encoder.EncodePrompt(p)], new GenerationOptions { MaxNewTokens = steps })[0]).ToList();
        string Text(IEnumerable<long> ids)
        {
            var text = tokenizer.Decode(ids.Select(id => (int)id), skipSpecialTokens: true);
            return (text.Contains('\n', StringComparison.Ordinal) ? text[..text.IndexOf('\n', StringComparison.Ordinal)] : text).Trim();
        }

        var references = greedy.Select(Text).ToList();
        var words = references.Select(TokenErrorRateMetric.Tokens).ToList();
        Assert.True(words.Count(w => w.Length > 0) >= 2, $"the random model should say something: {string.Join(" | ", references)}");

        // A bound fixed by MaxNewTokens (a large margin), batches of 3 left-padded prompts of different lengths.
        var evaluator = new GenerativeEvaluator(encoder, new GenerativeEvaluatorOptions { Margin = 100, MaxNewTokens = steps, BatchSize = 3, SampleCount = 2 });
        var own = evaluator.Evaluate(model, [.. Prompts.Select((p, i) => new GenerationExample(p, " " + references[i]))]);
        Assert.Equal(1.0, own.Metrics[GenerationMetrics.ExactMatch]);
        Assert.Equal(0.0, own.Metrics[GenerationMetrics.TokenErrorRate]);
        Assert.Equal(Prompts.Length, own.Count);
        Assert.Equal([new GenerationSample(Prompts[0], references[0], references[0]), new GenerationSample(Prompts[1], references[1], references[1])], own.Samples);
        var table = new GenerativeEvaluation(own.Metrics, [new GenerationSample("a|b ->", "X", "Y\nZ")], 1).SamplesMarkdown();
        Assert.Equal("| prompt | reference | generated |\n|---|---|---|\n| a\\|b -> | X | Y Z |\n", table);

        // One reference with its first token substituted, one with a token added: 2 edits, 2 misses.
        var spoken = Enumerable.Range(0, Prompts.Length).Where(i => words[i].Length > 0).Take(2).ToArray();
        var altered = references.ToArray();
        altered[spoken[0]] = string.Join(' ', ["QQQ", .. words[spoken[0]].Skip(1)]);
        altered[spoken[1]] = string.Join(' ', [.. words[spoken[1]], "QQQ"]);
        var scored = evaluator.Evaluate(model, [.. Prompts.Select((p, i) => new GenerationExample(p, altered[i]))]);
        Assert.Equal((Prompts.Length - 2) / (double)Prompts.Length, scored.Metrics[GenerationMetrics.ExactMatch], 12);
        Assert.Equal(2.0 / (words.Sum(w => w.Length) + 1), scored.Metrics[GenerationMetrics.TokenErrorRate], 12);

        // With no margin the bound is the reference's own token count.
        var tight = new GenerativeEvaluator(encoder, new GenerativeEvaluatorOptions { Margin = 0, BatchSize = 2 });
        var shortReferences = greedy.Select(ids => Text(ids.Take(2))).Select(r => r.Length > 0 ? r : "X").ToList();
        var generated = tight.Generate(model, [.. Prompts.Select((p, i) => new GenerationExample(p, shortReferences[i]))]);
        for (var i = 0; i < Prompts.Length; i++)
        {
            var bound = tokenizer.Encode(shortReferences[i], addSpecialTokens: false).Length;
            Assert.Equal(Text(greedy[i].Take(bound)), generated[i].Generated);
        }

        Assert.False(model.training);
    }

    [Fact]
    public void ANewlineEndsTheCompletionOfEachRowOfABatch()
    {
        var (model, encoder) = TinyModel();
        var tokenizer = encoder.Tokenizer!;
        var newline = tokenizer.TokenToId("<0x0A>")!.Value;
        using (no_grad())
        {
            // A long newline embedding (tied to the output layer): the model says a newline wherever its state leans that way.
            model.named_parameters().Single(p => p.name.EndsWith("embed_tokens.weight", StringComparison.Ordinal)).parameter[newline].mul_(40);
        }

        const int steps = 8;
        var greedy = Prompts.Select(p => DecoderGenerator.Generate(model, [encoder.EncodePrompt(p)], new GenerationOptions { MaxNewTokens = steps })[0]).ToList();
        Assert.Contains(greedy, ids => Array.IndexOf(ids, (long)newline) is > 0 and < steps - 1);
        var references = greedy.Select(ids => tokenizer.Decode(ids.TakeWhile(id => id != newline).Select(id => (int)id), skipSpecialTokens: true).Trim()).ToList();

        var evaluator = new GenerativeEvaluator(encoder, new GenerativeEvaluatorOptions { Margin = 100, MaxNewTokens = steps, BatchSize = Prompts.Length });
        var samples = evaluator.Generate(model, [.. Prompts.Select((p, i) => new GenerationExample(p, "X"))]);
        Assert.Equal(references, samples.Select(s => s.Generated));
        var unstopped = new GenerativeEvaluator(encoder, evaluator.Options with { StopAtNewline = false }).Generate(model, [.. Prompts.Select((p, i) => new GenerationExample(p, "X"))]);
        Assert.Equal(greedy.Select(ids => tokenizer.Decode(ids.Select(id => (int)id), skipSpecialTokens: true).Trim()), unstopped.Select(s => s.Generated));
    }

    [Fact]
    public void PeftEvalScoresADecoderAdapterByGenerationAndAtEveryDyLoraRank()
    {
        var (model, encoder) = TinyModel();
        var baseDir = Path.Combine(_temp.FullName, "model");
        model.SavePretrained(baseDir);
        var peft = PeftModel.Create(model, new DyLoraConfig { R = 2, LoraAlpha = 4, TargetModules = TargetModules.FromNames("q_proj", "v_proj", "o_proj") });
        using (no_grad())
        {
            var generator = new Generator(3);
            foreach (var (_, parameter) in model.named_parameters().Where(p => p.name.Contains("lora_B", StringComparison.Ordinal)))
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 2);
            }
        }

        var adapterDir = Path.Combine(_temp.FullName, "adapter");
        peft.SavePretrained(adapterDir);
        var dataDir = Path.Combine(_temp.FullName, "g2p");
        Directory.CreateDirectory(dataDir);
        var examples = Prompts.Select((p, i) => new GenerationExample(p, i % 2 == 0 ? " K AE T" : " S T AO R M")).ToList();
        File.WriteAllLines(Path.Combine(dataDir, "test.jsonl"), examples.Select(e => new JsonObject { ["prompt"] = e.Prompt, ["completion"] = e.Completion }.ToJsonString()));

        // In process, independently of the CLI's rank cuts: the adapter as saved, then DyLoRA's own rank switch.
        var reloaded = PeftModel.FromPretrained(PretrainedModel.FromPretrained(baseDir), adapterDir);
        var evaluator = new GenerativeEvaluator(PromptEncoder.Load(baseDir));
        var full = evaluator.Evaluate((DecoderForCausalLM)reloaded.Model, examples);
        DyLora.SetRank(reloaded, 1);
        var rankOne = evaluator.Evaluate((DecoderForCausalLM)reloaded.Model, examples);

        // By default the generic metrics; --generation-metrics names g2p's (the same two under g2p's names).
        var (code, output, error) = Cli.Peft("eval", "--base", baseDir, "--adapter", adapterDir, "--data", dataDir, "--split", "test");
        Assert.True(code == 0, error);
        var json = JsonNode.Parse(output)!;
        Assert.Equal(full.Metrics[GenerationMetrics.ExactMatch], json["exact_match"]!.GetValue<double>(), 12);
        Assert.Equal(full.Metrics[GenerationMetrics.TokenErrorRate], json["token_error_rate"]!.GetValue<double>(), 12);
        Assert.Null(json["word_accuracy"]);
        Assert.Equal(Prompts.Length, json["count"]!.GetValue<int>());
        Assert.Equal(full.Samples.Select(s => s.Generated), json["samples"]!.AsArray().Select(s => (string)s!["generated"]!));

        (code, output, error) = Cli.Peft("eval", "--base", baseDir, "--adapter", adapterDir, "--data", Path.Combine(dataDir, "test.jsonl"), "--ranks", "1..2", "--generation-metrics", "word_accuracy", "phoneme_error_rate");
        Assert.True(code == 0, error);
        string Row(int rank, GenerativeEvaluation e) =>
            string.Create(CultureInfo.InvariantCulture, $"| {rank} | {e.Metrics[GenerationMetrics.ExactMatch]:F4} | {e.Metrics[GenerationMetrics.TokenErrorRate]:F4} |");
        Assert.Contains("| rank | word_accuracy | phoneme_error_rate |", output);
        Assert.Contains(Row(1, rankOne), output);
        Assert.Contains(Row(2, full), output);
        Assert.True(File.Exists(Path.Combine(adapterDir, "metric-by-rank.png")));
    }

    /// <summary>A random one-layer Llama with the llama2 fixture's tokenizer (the evaluator reads it as a model directory would hold it).</summary>
    private (DecoderForCausalLM Model, PromptEncoder Encoder) TinyModel()
    {
        var dir = Path.Combine(_temp.FullName, "model");
        Directory.CreateDirectory(dir);
        var config = new JsonObject
        {
            ["model_type"] = "llama", ["vocab_size"] = 32000, ["hidden_size"] = 16, ["intermediate_size"] = 24, ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 2, ["num_key_value_heads"] = 1, ["max_position_embeddings"] = 128, ["rms_norm_eps"] = 1e-5,
            ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        foreach (var file in new[] { HfTokenizer.TokenizerFileName, HfTokenizer.ConfigFileName })
        {
            File.Copy(Path.Combine(Tokenizers, "llama2", file), Path.Combine(dir, file));
        }

        manual_seed(7);
        var model = (DecoderForCausalLM)PretrainedModel.Create(dir);
        using (no_grad())
        {
            var generator = new Generator(7);
            foreach (var parameter in model.parameters())
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 0.5);
            }
        }

        model.eval();
        return (model, PromptEncoder.Load(dir));
    }
}
