using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Chat;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// Text in and out of decoders: prompt and messages records go through the real tokenizer and chat
/// template exactly as transformers' encode and apply_chat_template would (checked against the ids of
/// the same text given as input_ids), and peft chat streams a conversation.
/// </summary>
public sealed class DecoderTextTests : IDisposable
{
    private static readonly string Tokenizers = Path.Combine(AppContext.BaseDirectory, "Interop", "tokenizers");
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("decoder-text");

    public void Dispose() => _temp.Delete(recursive: true);

    /// <summary>A random one-layer Llama with the llama2 fixture's vocabulary, tokenizer and chat template.</summary>
    private string TinyChatModel()
    {
        var dir = Path.Combine(_temp.FullName, "model");
        Directory.CreateDirectory(dir);
        var config = new JsonObject
        {
            ["model_type"] = "llama", ["architectures"] = new JsonArray("LlamaForCausalLM"), ["vocab_size"] = 32000, ["hidden_size"] = 16,
            ["intermediate_size"] = 24, ["num_hidden_layers"] = 1, ["num_attention_heads"] = 2, ["num_key_value_heads"] = 1,
            ["max_position_embeddings"] = 512, ["rms_norm_eps"] = 1e-5, ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        manual_seed(5);
        var model = PretrainedModel.Create(dir);
        using (no_grad())
        {
            var generator = new Generator(5);
            foreach (var parameter in model.parameters())
            {
                parameter.copy_(randn(parameter.shape, generator: generator) * 0.5);
            }
        }

        model.SavePretrained(dir);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "chat_template.jinja" })
        {
            File.Copy(Path.Combine(Tokenizers, "llama2", file), Path.Combine(dir, file), overwrite: true);
        }

        return dir;
    }

    private static JsonArray Conversation() =>
    [
        new JsonObject { ["role"] = "user", ["content"] = "What is the capital of France?" },
        new JsonObject { ["role"] = "assistant", ["content"] = "Paris." },
        new JsonObject { ["role"] = "user", ["content"] = "And of Italy?" },
    ];

    [Fact]
    public void PromptAndMessagesRecordsGenerateWhatTheirIdsGenerate()
    {
        var dir = TinyChatModel();
        var tokenizer = HfTokenizer.Load(dir);
        var template = ChatTemplate.Load(dir);
        var promptIds = tokenizer.Encode("The weather today is", addSpecialTokens: true);
        Assert.Equal(1, promptIds[0]);
        var rendered = template.Render([.. Conversation().Select(m => m!.AsObject())], addGenerationPrompt: true);
        var chatIds = tokenizer.Encode(rendered, addSpecialTokens: false);
        var input = Path.Combine(_temp.FullName, "in.jsonl");
        File.WriteAllLines(input,
        [
            new JsonObject { ["prompt"] = "The weather today is" }.ToJsonString(),
            new JsonObject { ["input_ids"] = new JsonArray([.. promptIds.Select(i => (JsonNode?)i)]) }.ToJsonString(),
            new JsonObject { ["messages"] = Conversation() }.ToJsonString(),
            new JsonObject { ["input_ids"] = new JsonArray([.. chatIds.Select(i => (JsonNode?)i)]) }.ToJsonString(),
        ]);
        var output = Path.Combine(_temp.FullName, "out.jsonl");
        var (code, _, error) = Cli.Peft("generate", "--base", dir, "--data", input, "--output", output, "--greedy", "--max-new-tokens", "5");
        Assert.True(code == 0, error);
        var records = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(4, records.Count);
        Assert.Equal(records[1]["output_ids"]!.ToJsonString(), records[0]["output_ids"]!.ToJsonString());
        Assert.Equal(records[3]["output_ids"]!.ToJsonString(), records[2]["output_ids"]!.ToJsonString());
        var ids = records[0]["output_ids"]!.AsArray().Select(v => (int)v!).ToList();
        Assert.Equal(tokenizer.Decode(ids, skipSpecialTokens: true), (string?)records[0]["text"]);
    }

    [Fact]
    public void ARecordWithoutATokenizerNeedsInputIds()
    {
        var dir = TinyChatModel();
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        var input = Path.Combine(_temp.FullName, "in.jsonl");
        File.WriteAllText(input, "{\"prompt\": \"hi\"}\n");
        var (code, _, error) = Cli.Peft("generate", "--base", dir, "--data", input, "--output", Path.Combine(_temp.FullName, "o.jsonl"), "--greedy");
        Assert.Equal(1, code);
        Assert.Contains("in.jsonl:1", error);
        Assert.Contains("'prompt'", error);
        Assert.Contains("tokenizer", error);
    }

    [Fact]
    public async Task ChatStreamsRepliesResetsAndExits()
    {
        var dir = TinyChatModel();
        var info = Cli.StartInfo(null, ["chat", "--base", dir, "--max-new-tokens", "4"]);
        info.RedirectStandardInput = true;
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.WriteLine("Hello there");
        process.StandardInput.WriteLine("/reset");
        process.StandardInput.WriteLine("Hello there");
        process.StandardInput.WriteLine("/exit");
        var output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000));
        Assert.True(process.ExitCode == 0, await error);
        Assert.Contains("(new conversation)", output);

        // Both first turns start from the same conversation, and greedy decoding makes their replies equal.
        var replies = output.Split("> ", StringSplitOptions.None).Skip(1).Take(3).Select(r => r.Split('\n')[0]).ToList();
        Assert.Equal(replies[0], replies[2]);
        var encoder = PromptEncoder.Load(dir);
        var expected = DecoderGenerator.Generate((DecoderForCausalLM)PretrainedModel.FromPretrained(dir),
            [encoder.EncodeConversation([new JsonObject { ["role"] = "user", ["content"] = "Hello there" }])], new GenerationOptions { MaxNewTokens = 4 })[0];
        var text = encoder.Tokenizer!.Decode(expected.Select(id => (int)id), skipSpecialTokens: true);
        Assert.Equal(text, replies[0]);
    }
}
