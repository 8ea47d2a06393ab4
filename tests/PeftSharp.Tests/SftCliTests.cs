using PeftSharp.Models.Tokenizers;
using PeftSharp.Training.CausalLanguageModeling;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// The SFT commands: <c>peft sft-preview</c> writes the ids and labels training sees with the
/// supervised text decoded, and <c>peft train</c> infers the causal-LM task from a decoder and SFT
/// records, and saves a PEFT <c>CAUSAL_LM</c> adapter naming its base; bad data stops it before
/// training with the file, line and field.
/// </summary>
public sealed class SftCliTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-sft-cli-");

    public void Dispose() => _temp.Delete(recursive: true);

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    [Fact]
    public void SftPreviewWritesTheIdsAndLabelsTrainingSeesWithTheSupervisedText()
    {
        var model = SftTrainingTests.TinyDecoder(Path.Combine(_temp.FullName, "model"));
        var data = Path.Combine(_temp.FullName, "chat.jsonl");
        File.WriteAllLines(data,
        [
            new JsonObject { ["messages"] = new JsonArray(Message("system", "Be brief."), Message("user", "Plural of cat:"), Message("assistant", "cats")) }.ToJsonString(),
            "",
            new JsonObject { ["messages"] = new JsonArray(Message("user", "Plural of dog:"), Message("assistant", "dogs"), Message("user", "Plural of tree:"), Message("assistant", "trees")) }.ToJsonString(),
        ]);
        var output = Path.Combine(_temp.FullName, "preview.jsonl");
        var (code, stdout, error) = Cli.Peft("sft-preview", "--base", model, "--data", data, "--output", output, "--max-length", "128");
        Assert.True(code == 0, stdout + error);
        Assert.Contains("2 examples (messages)", stdout);
        var records = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal([1, 3], records.Select(r => (int)r["line"]!));

        var tokenizer = HfTokenizer.Load(model);
        var expected = SftDataset.Load(data, new SftEncoder(tokenizer, PeftSharp.Models.Chat.ChatTemplate.Load(model), 128));
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(expected.Examples[i].InputIds, records[i]["input_ids"]!.AsArray().Select(v => (long)v!));
            Assert.Equal(expected.Examples[i].Labels, records[i]["labels"]!.AsArray().Select(v => (long)v!));
        }

        Assert.Equal(["cats<|im_end|>"], records[0]["supervised_text"]!.AsArray().Select(v => (string)v!));
        Assert.Equal(["dogs<|im_end|>", "trees<|im_end|>"], records[1]["supervised_text"]!.AsArray().Select(v => (string)v!));
    }

    /// <summary>A tiny decoder directory and a task directory of 16 plural records (and 4 validation records).</summary>
    private (string Model, string Task) TinyDecoderAndPlurals(bool validation)
    {
        var model = SftTrainingTests.TinyDecoder(Path.Combine(_temp.FullName, "model"));
        var task = Path.Combine(_temp.FullName, "task");
        Directory.CreateDirectory(task);
        SftTrainingTests.WritePlurals(Path.Combine(task, "train.jsonl"), 16);
        if (validation)
        {
            SftTrainingTests.WritePlurals(Path.Combine(task, "validation.jsonl"), 4, offset: 16);
        }

        return (model, task);
    }

    [Fact]
    public void PeftTrainHoldsTheBaseInBf16WithCheckpointedLayersAndSavesFp32Adapters()
    {
        var (model, task) = TinyDecoderAndPlurals(validation: false);
        var run = Path.Combine(_temp.FullName, "bf16");
        var (code, stdout, error) = Cli.Peft("train", "--base", model, "--data", task, "--method", "lora", "--dtype", "bf16", "--gradient-checkpointing", "--steps", "2", "--batch-size", "4", "--max-length", "64", "--output", run);
        Assert.True(code == 0, stdout + error);
        using var file = PeftSharp.IO.SafetensorsFile.Open(Path.Combine(run, "adapter", "adapter_model.safetensors"));
        Assert.NotEmpty(file.Entries);
        Assert.All(file.Entries, entry => Assert.Equal("F32", entry.DType));
    }

    [Fact]
    public void PeftTrainPacksShortExamplesWhenAsked()
    {
        var (model, task) = TinyDecoderAndPlurals(validation: true);
        var run = Path.Combine(_temp.FullName, "packed");
        var (code, stdout, error) = Cli.Peft("train", "--base", model, "--data", task, "--method", "lora", "--packing", "--steps", "2", "--eval-every", "2", "--batch-size", "2", "--max-length", "64", "--output", run);
        Assert.True(code == 0, stdout + error);
        Assert.Contains("best validation perplexity", stdout);
        Assert.True(File.Exists(Path.Combine(run, "best", "adapter_model.safetensors")));
    }

    [Fact]
    public void PeftTrainInfersCausalLmAndSavesACausalLmAdapterNamingItsBase()
    {
        var (model, task) = TinyDecoderAndPlurals(validation: true);
        var run = Path.Combine(_temp.FullName, "run");
        var (code, stdout, error) = Cli.Peft("train", "--base", model, "--data", task, "--method", "lora", "--steps", "4", "--eval-every", "2", "--batch-size", "4", "--max-length", "64", "--lr", "0.01", "--output", run);
        Assert.True(code == 0, stdout + error);
        Assert.Contains("16 examples (prompt/completion)", stdout);
        Assert.Contains("best validation perplexity", stdout);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "best", "adapter_config.json")))!;
        Assert.Equal("CAUSAL_LM", (string?)config["task_type"]);
        Assert.Equal(model, (string?)config["base_model_name_or_path"]);
        // The causal-LM preset adapts every linear layer but the head (PEFT's all-linear, written resolved).
        Assert.Equal(["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"], config["target_modules"]!.AsArray().Select(v => (string)v!).Order());
        Assert.Null(config["modules_to_save"]);
        var metrics = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Where(r => r["perplexity"] is not null).ToList();
        Assert.Equal(2, metrics.Count);
        Assert.All(metrics, m => Assert.Equal(Math.Exp((double)m["eval_loss"]!), (double)m["perplexity"]!, 6));
    }

    [Fact]
    public void TheTaskIsInferredFromTheRecordsAndTheModel()
    {
        var decoder = SftTrainingTests.TinyDecoder(Path.Combine(_temp.FullName, "model"));
        var encoder = Path.Combine(BundledDemoTests.Repository(), "models", "base");
        string Write(string name, string line)
        {
            var path = Path.Combine(_temp.FullName, name);
            File.WriteAllText(path, "\n" + line + "\n");
            return path;
        }

        var labelled = Write("labelled.jsonl", "{\"text\": \"buy now\", \"label\": \"spam\"}");
        var text = Write("text.jsonl", "{\"text\": \"once upon a time\"}");
        var prompt = Write("prompt.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}");
        var chat = Write("chat.jsonl", "{\"messages\": []}");
        Assert.Equal("seq-cls", PeftSharp.Cli.Commands.SftInputs.InferTask(null, decoder, labelled));
        Assert.Equal("causal-lm", PeftSharp.Cli.Commands.SftInputs.InferTask(null, decoder, text));
        Assert.Equal("seq-cls", PeftSharp.Cli.Commands.SftInputs.InferTask(null, encoder, text));
        Assert.Equal("causal-lm", PeftSharp.Cli.Commands.SftInputs.InferTask(null, encoder, prompt));
        Assert.Equal("causal-lm", PeftSharp.Cli.Commands.SftInputs.InferTask(null, decoder, chat));
        Assert.Equal("seq-cls", PeftSharp.Cli.Commands.SftInputs.InferTask("seq-cls", decoder, chat));
    }

    [Fact]
    public void BadSftDataStopsPeftTrainBeforeTrainingWithFileLineAndField()
    {
        var model = SftTrainingTests.TinyDecoder(Path.Combine(_temp.FullName, "model"));
        var task = Path.Combine(_temp.FullName, "task");
        Directory.CreateDirectory(task);
        var train = Path.Combine(task, "train.jsonl");
        File.WriteAllText(train, "{\"prompt\": \"Plural of cat:\", \"completion\": \" cats\"}\n{\"prompt\": \"Plural of dog:\", \"completion\": \"\"}\n");
        var run = Path.Combine(_temp.FullName, "run");
        var (code, stdout, error) = Cli.Peft("train", "--base", model, "--data", task, "--steps", "4", "--output", run);
        Assert.Equal(1, code);
        Assert.Contains($"{train}:2: field 'completion': is empty", error);
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoint")), stdout);
    }
}
