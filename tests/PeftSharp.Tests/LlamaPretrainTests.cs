using PeftSharp.Models;
using PeftSharp.Models.Chat;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using Xunit;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary><c>peft pretrain --arch llama</c>: a causal-LM Llama with a byte-level BPE tokenizer and a ChatML template.</summary>
public sealed class LlamaPretrainTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("peftsharp-llamapre-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void ALlamaPretrainLowersTheLossAndWritesADecoderThatReloadsWithTheSamePerplexityAndGenerates()
    {
        var losses = new List<double>();
        var output = Path.Combine(_temp, "decoder");
        var options = new PretrainOptions
        {
            Architecture = LlamaArchitecture.Instance, VocabularySize = 400, Layers = 2, Hidden = 32, Heads = 4, KeyValueHeads = 2,
            SequenceLength = 32, MaxPositions = 64, BatchSize = 8, Steps = 25, LearningRate = 3e-3, Seed = 5, ValidationShare = 0.1, ChatShare = 0.3,
        };
        var texts = Texts(80);
        var result = CausalLMPretrainer.Run(texts, output, options, TextWriter.Null, new SyncProgress(p => losses.Add(p.Loss)));

        Assert.Equal(25, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l), $"loss {l}"));
        Assert.True(losses.TakeLast(5).Average() < losses.Take(3).Average() - 0.3, string.Join(", ", losses));
        Assert.Equal(Math.Exp(result.ValidationLoss), result.Perplexity, 9);
        Assert.True(result.Perplexity < 400, $"perplexity {result.Perplexity} is no better than uniform over 400 tokens");

        // The directory is a Hugging Face Llama: config, generation config, tokenizer and template agree.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!;
        Assert.Equal("LlamaForCausalLM", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("llama", config["model_type"]!.GetValue<string>());
        Assert.Equal("float32", config["torch_dtype"]!.GetValue<string>());
        Assert.True(config["tie_word_embeddings"]!.GetValue<bool>());
        Assert.Equal(2, config["num_key_value_heads"]!.GetValue<int>());
        Assert.Equal(CausalLMPretrainer.SwiGluWidth(32), config["intermediate_size"]!.GetValue<int>());
        Assert.Equal(96, CausalLMPretrainer.SwiGluWidth(32));
        var tokenizer = HfTokenizer.Load(output);
        Assert.Equal(config["vocab_size"]!.GetValue<int>(), tokenizer.VocabularySize);
        Assert.Equal(400, tokenizer.VocabularySize);
        var turnEnd = tokenizer.TokenToId(ChatTokenizerFiles.TurnEnd)!.Value;
        var endOfText = tokenizer.TokenToId(ChatTokenizerFiles.EndOfText)!.Value;
        Assert.Equal(new[] { turnEnd }, tokenizer.EosTokenIds);
        Assert.Equal(new[] { turnEnd, endOfText }, config["eos_token_id"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Equal(tokenizer.PadTokenId, config["pad_token_id"]!.GetValue<int>());
        Assert.NotEqual(turnEnd, tokenizer.PadTokenId);
        Assert.Equal(new[] { turnEnd, endOfText }, GenerationConfig.EosTokenIds(output));

        var model = Assert.IsType<DecoderForCausalLM>(PretrainedModel.FromPretrained(output));
        Assert.Equal(result.Parameters, model.parameters().Sum(p => p.numel()));
        Assert.Equal(new[] { turnEnd, endOfText }, model.EosTokenIds);

        // The reloaded weights give the perplexity the run reported on the same held-out documents.
        var (_, validationTexts) = CausalLMPretrainer.Split(texts, options.ValidationShare, options.Seed);
        var validation = CausalLMPretrainer.Pack(validationTexts, tokenizer, endOfText, options.SequenceLength);
        var (loss, _) = CausalLanguageModelingTask.Validate(model, validation, 3);
        Assert.Equal(result.ValidationLoss, loss, 4);

        // It generates through the chat template, deterministically when greedy.
        var prompt = PromptEncoder.Load(output).EncodeConversation([new JsonObject { ["role"] = "user", ["content"] = "The Congress" }]);
        var generation = new GenerationOptions { MaxNewTokens = 6 };
        var first = DecoderGenerator.Generate(model, [prompt], generation);
        Assert.InRange(first[0].Length, 1, 6);
        Assert.Equal(first[0], DecoderGenerator.Generate(model, [prompt], generation)[0]);
    }

    [Fact]
    public void PeftPretrainArchLlamaWritesADecoderThatPeftGenerateRuns()
    {
        var corpus = Path.Combine(_temp, "corpus.txt");
        File.WriteAllLines(corpus, Texts(30));
        var model = Path.Combine(_temp, "cli-decoder");
        var (code, output, error) = Cli.Peft(
            "pretrain", "--arch", "llama", "--corpus", corpus, "--output", model, "--vocab-size", "300", "--layers", "1", "--hidden", "64",
            "--kv-heads", "1", "--sequence-length", "32", "--batch-size", "4", "--steps", "3", "--validation-share", "0.2");
        Assert.True(code == 0, output + error);
        Assert.Contains("perplexity", output);
        Assert.Contains("1 key/value", output);
        Assert.Equal(300, HfTokenizer.Load(model).VocabularySize);

        var prompts = Path.Combine(_temp, "prompts.jsonl");
        File.WriteAllLines(prompts, ["{\"prompt\": \"The Congress\"}", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}"]);
        var generated = Path.Combine(_temp, "out.jsonl");
        (code, output, error) = Cli.Peft("generate", "--base", model, "--data", prompts, "--output", generated, "--max-new-tokens", "4");
        Assert.True(code == 0, output + error);
        Assert.All(File.ReadAllLines(generated), line => Assert.InRange(JsonNode.Parse(line)!["output_ids"]!.AsArray().Count, 1, 4));
    }

    [Fact]
    public void TheTokenizerRoundTripsTextAndKeepsChatTokensWhole()
    {
        var texts = Texts(40);
        var size = ChatTokenizerFiles.Write(_temp, texts, 500, 128);
        var tokenizer = HfTokenizer.Load(_temp);
        Assert.Equal(500, size);
        Assert.True(tokenizer.IsByteLevel);
        Assert.Null(tokenizer.BosTokenId);
        Assert.Empty(tokenizer.PrefixTokenIds);
        foreach (var text in texts.Take(10).Append("Ünïcödé — 日本語 🙂\n\ttabs  and  spaces ").Append(string.Empty))
        {
            var ids = tokenizer.Encode(text);
            Assert.Equal(text, tokenizer.Decode(ids));
            Assert.All(ids, id => Assert.InRange(id, 4, 499));
        }

        var common = tokenizer.Encode(texts[0]);
        Assert.True(common.Length < System.Text.Encoding.UTF8.GetByteCount(texts[0]) / 2, "merges should compress in-domain text at least twofold");
        var special = tokenizer.Encode("<|im_start|>user\nhi<|im_end|>\n<|endoftext|><|pad|>");
        Assert.Equal(new[] { 0, 1, 2, 3 }, ChatTokenizerFiles.SpecialTokens.Select(t => tokenizer.TokenToId(t)!.Value));
        Assert.Equal(1, special[0]);
        Assert.Equal(new[] { 1, 2, 0, 3 }, special.Where(id => id < 4));
        Assert.Equal(3, tokenizer.PadTokenId);
        Assert.Equal(new[] { 2 }, tokenizer.EosTokenIds);
        Assert.Equal("hi", tokenizer.Decode(special, skipSpecialTokens: true).Split('\n')[1]);
    }

    [Fact]
    public void TheChatTemplateRendersChatMLWithAndWithoutAGenerationPrompt()
    {
        File.WriteAllText(Path.Combine(_temp, "tokenizer_config.json"), ChatTokenizerFiles.TokenizerConfigJson(64));
        var template = ChatTemplate.Load(_temp);
        JsonObject[] messages =
        [
            new() { ["role"] = "system", ["content"] = "Be brief." },
            new() { ["role"] = "user", ["content"] = "cat ->" },
            new() { ["role"] = "assistant", ["content"] = "K AE T" },
            new() { ["role"] = "user", ["content"] = "dog ->" },
        ];
        var expected = string.Concat(messages.Select(m => $"<|im_start|>{m["role"]}\n{m["content"]}<|im_end|>\n"));
        Assert.Equal(expected, template.Render(messages, addGenerationPrompt: false));
        Assert.Equal(expected + "<|im_start|>assistant\n", template.Render(messages, addGenerationPrompt: true));
        Assert.Equal("<|im_end|>", template.SpecialTokens["eos_token"]);
    }

    [Fact]
    public void ValidationLossIsTheMeanNextTokenNegativeLogLikelihood()
    {
        var shape = new DecoderShape(40, 16, 1, 2, 1, 32, 16, 0, [2, 0], 3);
        manual_seed(11);
        using var model = LlamaArchitecture.Instance.Create(shape);
        var random = new Random(4);
        var rows = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, 7).Select(_ => (long)random.Next(40)).ToArray()).ToList();

        double sum = 0;
        var count = 0;
        using (no_grad())
        {
            foreach (var row in rows)
            {
                using var logits = model.Forward(tensor(row).unsqueeze(0));
                var logProbabilities = logits.log_softmax(-1).to(ScalarType.Float64);
                for (var t = 0; t + 1 < row.Length; t++)
                {
                    sum -= logProbabilities[0, t, row[t + 1]].item<double>();
                    count++;
                }
            }
        }

        var (loss, perplexity) = CausalLanguageModelingTask.Validate(model, rows, 2);
        Assert.Equal(sum / count, loss, 5);
        Assert.Equal(Math.Exp(sum / count), perplexity, 4);
    }

    [Fact]
    public void PackingJoinsDocumentsWithTheSeparatorAndSplitHoldsOutWholeDocuments()
    {
        ChatTokenizerFiles.Write(_temp, ["aaa bbb aaa bbb"], 270, 32);
        var tokenizer = HfTokenizer.Load(_temp);
        string[] texts = ["aaa bbb", "bbb", "aaa aaa bbb"];
        var stream = texts.SelectMany(t => tokenizer.Encode(t, addSpecialTokens: false).Select(id => (long)id).Append(0L)).ToList();
        var rows = CausalLMPretrainer.Pack(texts, tokenizer, 0, 3);
        Assert.Equal(stream.Count / 3, rows.Count);
        Assert.Equal(stream.Take(rows.Count * 3), rows.SelectMany(r => r));

        var documents = Enumerable.Range(0, 40).Select(i => $"document {i}").ToList();
        var (train, validation) = CausalLMPretrainer.Split(documents, 0.1, 7);
        Assert.Equal(4, validation.Count);
        Assert.Equal(documents.Order(), train.Concat(validation).Order());
        Assert.Empty(train.Intersect(validation));
        Assert.Equal(validation, CausalLMPretrainer.Split(documents, 0.1, 7).Validation);
        Assert.NotEqual(validation, CausalLMPretrainer.Split(documents, 0.1, 8).Validation);
        Assert.Empty(CausalLMPretrainer.Split(documents, 0, 7).Validation);
        Assert.Throws<ArgumentOutOfRangeException>(() => CausalLMPretrainer.Split(documents, 1.0, 7));
    }

    [Fact]
    public void ADocumentBecomesAOneTurnConversationAtItsFirstSentence()
    {
        var template = ChatTemplate.Parse(ChatTokenizerFiles.ChatTemplate);
        Assert.Equal(
            "<|im_start|>user\nCall me Ishmael, if you must.<|im_end|>\n<|im_start|>assistant\nSome years ago. Never mind.<|im_end|>\n",
            CausalLMPretrainer.AsConversation("Call me Ishmael, if you must. Some years ago. Never mind.", template));
        Assert.Null(CausalLMPretrainer.AsConversation("No sentence end here", template));
        Assert.Null(CausalLMPretrainer.AsConversation("Short. Then a long first sentence without a stop", template));
    }

    [Fact]
    public void TheLlamaArchitectureIsFoundByNameAndRejectsAPadThatEndsGeneration()
    {
        Assert.IsType<LlamaArchitecture>(PretrainingArchitecture.Find("LLaMA"));
        Assert.Null(MaskedLMArchitecture.Find("llama"));
        Assert.Same(MaskedLMArchitecture.Deberta, PretrainingArchitecture.Find("deberta"));
        Assert.Equal(ModelTask.CausalLanguageModeling, LlamaArchitecture.Instance.Objective);

        var shape = new DecoderShape(64, 32, 2, 4, 2, 96, 32, 0, [2, 0], 3);
        using var model = LlamaArchitecture.Instance.Create(shape);
        // embed + per layer (q, k, v, o, gate, up, down, two norms) + final norm; tied head.
        var perLayer = (32 * 32) + (2 * 32 * 16) + (32 * 32) + (3 * 32 * 96) + (2 * 32);
        Assert.Equal((64 * 32) + (2 * perLayer) + 32, model.parameters().Sum(p => p.numel()));
        Assert.DoesNotContain(model.named_parameters(), p => p.name.StartsWith("lm_head", StringComparison.Ordinal));
        Assert.All(model.named_parameters().Where(p => p.name.EndsWith("norm.weight", StringComparison.Ordinal)), p => Assert.True(p.parameter.eq(1).all().item<bool>(), p.name));

        Assert.Throws<ArgumentException>(() => LlamaArchitecture.Instance.Create(shape with { PadTokenId = 2 }));
        Assert.Throws<ArgumentException>(() => LlamaArchitecture.Instance.Create(shape with { KeyValueHeads = 3 }));
        Assert.Throws<ArgumentException>(() => LlamaArchitecture.Instance.Create(shape with { EosTokenIds = [64] }));
        var options = new PretrainOptions { Architecture = LlamaArchitecture.Instance };
        Assert.Throws<ArgumentException>(() => MaskedLMPretrainer.Run(["text"], Path.Combine(_temp, "x"), options, TextWriter.Null));
        Assert.Throws<ArgumentException>(() => CausalLMPretrainer.Run(["text"], Path.Combine(_temp, "y"), options with { Architecture = MaskedLMArchitecture.Bert }, TextWriter.Null));
    }

    private static List<string> Texts(int count) =>
        File.ReadLines(Path.Combine(BundledDemoTests.Repository(), "data", "sotu-era", "train.jsonl")).Take(count)
            .Select(l => JsonNode.Parse(l)!["text"]!.GetValue<string>()).ToList();

    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
