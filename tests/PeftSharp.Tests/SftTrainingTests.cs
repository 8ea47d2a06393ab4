using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Training;
using PeftSharp.Training.CausalLanguageModeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>
/// Causal-LM fine-tuning on the trainer: a tiny random Llama with the Llama 2 tokenizer learns
/// prompt/completion data with LoRA (the validation loss falls), perplexity is exp of the token-mean
/// loss, length grouping cuts padding with batches a function of (seed, epoch, index), and an
/// interrupted run resumed from its checkpoint ends byte for byte like the uninterrupted one.
/// </summary>
public sealed class SftTrainingTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-sft-train-");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>
    /// A random one-layer Llama with a small byte-level BPE tokenizer trained on the plural records
    /// (<c>&lt;|im_end|&gt;</c> its EOS, <c>&lt;|endoftext|&gt;</c> its pad) and a ChatML template, saved in a model directory.
    /// </summary>
    internal static string TinyDecoder(string directory)
    {
        Directory.CreateDirectory(directory);
        string[] specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        var corpus = Path.Combine(directory, "corpus.jsonl");
        WritePlurals(corpus, 40);
        var texts = File.ReadAllLines(corpus).Select(l => JsonNode.Parse(l)!).Select(n => (string)n["prompt"]! + (string)n["completion"]!).Append("user assistant system").ToList();
        File.Delete(corpus);
        var (vocabulary, merges) = ByteLevelBpeTrainer.Train(texts, 256 + specials.Length + 64, specials);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), ByteLevelBpeTrainer.ToTokenizerJson(vocabulary, merges, specials));
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), new JsonObject
        {
            ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>",
            ["chat_template"] = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
        }.ToJsonString());
        var config = new JsonObject
        {
            ["model_type"] = "llama", ["architectures"] = new JsonArray("LlamaForCausalLM"), ["vocab_size"] = vocabulary.Count, ["hidden_size"] = 32,
            ["intermediate_size"] = 48, ["num_hidden_layers"] = 1, ["num_attention_heads"] = 2, ["num_key_value_heads"] = 1,
            ["max_position_embeddings"] = 256, ["rms_norm_eps"] = 1e-5, ["eos_token_id"] = 2, ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString());
        manual_seed(11);
        var model = PretrainedModel.Create(directory);
        using (no_grad())
        {
            var generator = new Generator(11);
            foreach (var parameter in model.parameters())
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 0.5);
            }
        }

        model.SavePretrained(directory);
        return directory;
    }

    /// <summary>Plural-of records: "Plural of cat:" → " cats", of varied lengths.</summary>
    internal static void WritePlurals(string path, int count, int offset = 0)
    {
        string[] words = ["cat", "dog", "house", "tree", "car", "bird", "river", "stone", "cloud", "apple", "chair", "lamp", "road", "hill", "boat", "book", "cup", "door", "field", "song"];
        File.WriteAllLines(path, Enumerable.Range(offset, count).Select(i =>
        {
            var word = words[i % words.Length];
            var prompt = i % 3 == 0 ? $"Plural of {word}:" : $"Write the plural form of the English noun {word}:";
            return new JsonObject { ["prompt"] = prompt, ["completion"] = $" {word}s" }.ToJsonString();
        }));
    }

    private (DecoderForCausalLM Model, PeftModel Peft, CausalLmTask Task) Setup(string modelDirectory, int seed)
    {
        var model = (DecoderForCausalLM)PretrainedModel.FromPretrained(modelDirectory);
        manual_seed(seed);
        var peft = PeftModel.Create(model, new LoraConfig { R = 8, LoraAlpha = 16, TargetModules = TargetModules.FromNames("q_proj", "v_proj", "o_proj", "up_proj", "down_proj"), TaskType = "CAUSAL_LM" });
        var encoder = new SftEncoder(HfTokenizer(modelDirectory), null, 64);
        var path = Path.Combine(_temp.FullName, "train.jsonl");
        WritePlurals(path, 20);
        var data = SftDataset.Load(path, encoder);
        var task = new CausalLmTask(model, new LengthGroupedBatcher(data.Examples, 4, encoder.PadTokenId, seed), new LengthGroupedBatcher(data.Examples, 8, encoder.PadTokenId, seed, shuffle: false));
        return (model, peft, task);
    }

    private static PeftSharp.Models.Tokenizers.HfTokenizer HfTokenizer(string directory) => PeftSharp.Models.Tokenizers.HfTokenizer.Load(directory);

    private TrainerOptions Options(string? output, int steps = 30) => new()
    {
        MaxSteps = steps, BatchSize = 4, LearningRate = 1e-2, WarmupRatio = 0, WeightDecay = 0, EvalEvery = steps / 3, Metric = CausalLmTask.Perplexity,
        LogEvery = 0, SaveEvery = 3, Seed = 3, OutputDirectory = output,
    };

    [Fact]
    public void LoraOnATinyDecoderLowersTheValidationLossAndPerplexityIsExpOfTheTokenMean()
    {
        var directory = TinyDecoder(Path.Combine(_temp.FullName, "model"));
        var (model, peft, task) = Setup(directory, 3);
        Assert.False(task.IsHigherBetter(CausalLmTask.Perplexity));
        var before = task.ValidationLoss();
        var first = task.Evaluate();
        Assert.Equal(Math.Exp(first.Loss), first.Metrics[CausalLmTask.Perplexity], 9);
        Assert.Equal(before.Loss, first.Loss, 9);

        // The token mean over the split, by hand: every example's summed loss over every supervised token.
        var encoder = new SftEncoder(HfTokenizer(directory), null, 64);
        var data = SftDataset.Load(Path.Combine(_temp.FullName, "train.jsonl"), encoder);
        double sum = 0;
        long tokens = 0;
        using (no_grad())
        {
            foreach (var example in data.Examples)
            {
                using var scope = NewDisposeScope();
                var ids = tensor(example.InputIds).unsqueeze(0);
                var logits = model.Forward(ids);
                var (s, n) = CausalLmLoss.Sum(logits, tensor(example.Labels).unsqueeze(0));
                sum += s.item<float>();
                tokens += n;
            }
        }

        Assert.Equal(tokens, before.Tokens);
        Assert.Equal(sum / tokens, before.Loss, 4);

        var outcome = new TrainingLoop(task, Options(null), ParameterGroups.ForAdapter(peft, Options(null)), peft).Run();
        var after = task.ValidationLoss();
        Assert.True(after.Loss < before.Loss * 0.7, $"validation loss {before.Loss} → {after.Loss}");
        Assert.Equal(outcome.Evaluations.MinBy(e => e.Metrics[CausalLmTask.Perplexity])!.Step, outcome.Best!.Step);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void APaddedBatchHasTheLossOfItsExamplesAlone(string architecture)
    {
        var model = architecture == "gpt2"
            ? PretrainedModel.FromPretrained(Path.Combine(AppContext.BaseDirectory, "Interop", "gpt2-lora-c_attn", "base"))
            : PretrainedModel.FromPretrained(TinyDecoder(Path.Combine(_temp.FullName, "model")));
        model.eval();
        var vocabulary = architecture == "gpt2" ? 50 : 100;
        var random = new Random(4);
        var examples = Enumerable.Range(0, 5).Select(i =>
        {
            var ids = Enumerable.Range(0, 3 + (i * 4)).Select(_ => (long)random.Next(3, vocabulary)).ToArray();
            var labels = ids.Select((id, t) => t < ids.Length / 2 ? CausalLmLoss.IgnoreIndex : id).ToArray();
            return new CausalLmExample(ids, labels);
        }).ToList();
        var task = new CausalLmTask(model, new LengthGroupedBatcher(examples, 5, padTokenId: 0, seed: 1), new LengthGroupedBatcher(examples, 5, padTokenId: 0, seed: 1, shuffle: false));
        using var noGrad = no_grad();
        double sum = 0;
        long tokens = 0;
        foreach (var example in examples)
        {
            using var scope = NewDisposeScope();
            var (s, n) = CausalLmLoss.Sum(model.Forward(tensor(example.InputIds).unsqueeze(0)), tensor(example.Labels).unsqueeze(0));
            sum += s.item<float>();
            tokens += n;
        }

        // Right padding moves no real token: the padded batch's mean is the token-weighted mean of the examples alone.
        Assert.Equal(sum / tokens, task.Loss(0, 0).item<float>(), 4);
        Assert.Equal(sum / tokens, task.ValidationLoss().Loss, 4);
    }

    [Fact]
    public void LengthGroupingCutsPaddingAndBatchesAreAFunctionOfSeedEpochAndIndex()
    {
        var examples = Enumerable.Range(0, 64).Select(i => new CausalLmExample([.. Enumerable.Repeat(5L, 2 + ((i * 37) % 30))], [.. Enumerable.Repeat(5L, 2 + ((i * 37) % 30))])).ToList();
        var grouped = new LengthGroupedBatcher(examples, 4, 0, seed: 9);
        var again = new LengthGroupedBatcher(examples, 4, 0, seed: 9);
        long Padding(LengthGroupedBatcher b, int epoch) => Enumerable.Range(0, b.BatchesPerEpoch).Sum(i =>
        {
            var rows = b.Indices(epoch, i).Select(j => examples[j].Length).ToList();
            return (long)((rows.Max() * rows.Count) - rows.Sum());
        });

        // Random batches of the same data waste several times the padding.
        var random = new Random(9);
        var order = Enumerable.Range(0, 64).ToArray();
        random.Shuffle(order);
        var randomPadding = order.Chunk(4).Sum(rows => (long)((rows.Max(j => examples[j].Length) * rows.Length) - rows.Sum(j => examples[j].Length)));
        Assert.True(Padding(grouped, 0) * 3 < randomPadding, $"{Padding(grouped, 0)} vs {randomPadding}");

        // Every example once per epoch; a fresh batcher asked out of order gives the same batches; epochs differ.
        Assert.Equal(Enumerable.Range(0, 64), Enumerable.Range(0, 16).SelectMany(i => grouped.Indices(1, i)).Order());
        Assert.Equal(grouped.Indices(2, 5), again.Indices(2, 5));
        Assert.Equal(grouped.Indices(0, 3), again.Indices(0, 3));
        Assert.NotEqual(Enumerable.Range(0, 16).SelectMany(i => grouped.Indices(0, i)), Enumerable.Range(0, 16).SelectMany(i => grouped.Indices(1, i)));
        Assert.Equal(grouped.Indices(0, 0), grouped.Indices(0, 16));
    }

    [Fact]
    public void AnInterruptedCausalLmRunResumesToTheUninterruptedRunByteForByte()
    {
        var directory = TinyDecoder(Path.Combine(_temp.FullName, "model"));
        var reference = Path.Combine(_temp.FullName, "reference");
        var (_, peft, task) = Setup(directory, 3);
        var full = new TrainingLoop(task, Options(reference, 12), ParameterGroups.ForAdapter(peft, Options(reference, 12)), peft).Run();

        var split = Path.Combine(_temp.FullName, "split");
        var (_, firstPeft, firstTask) = Setup(directory, 3);
        var stopped = Options(split, 12) with { StopAfterSteps = 5 };
        new TrainingLoop(firstTask, stopped, ParameterGroups.ForAdapter(firstPeft, stopped), firstPeft).Run();
        var (_, secondPeft, secondTask) = Setup(directory, 3);
        var resumed = new TrainingLoop(secondTask, Options(split, 12), ParameterGroups.ForAdapter(secondPeft, Options(split, 12)), secondPeft).Run(resume: true);

        Assert.Equal(full.Losses, resumed.Losses);
        Assert.Equal(File.ReadAllText(Path.Combine(reference, "metrics.jsonl")), File.ReadAllText(Path.Combine(split, "metrics.jsonl")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "best", "adapter_model.safetensors")), File.ReadAllBytes(Path.Combine(split, "best", "adapter_model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "checkpoint", "adapter_model.safetensors")), File.ReadAllBytes(Path.Combine(split, "checkpoint", "adapter_model.safetensors")));
        var saved = JsonNode.Parse(File.ReadAllText(Path.Combine(reference, "best", "adapter_config.json")))!;
        Assert.Equal("CAUSAL_LM", (string?)saved["task_type"]);
    }
}
