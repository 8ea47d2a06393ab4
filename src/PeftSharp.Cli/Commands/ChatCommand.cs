using System.CommandLine;
using System.Text.Json.Nodes;
using PeftSharp.Models.Decoders;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft chat</c>: an interactive conversation with a decoder LLM, streamed token by token.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "Hugging Face decoder directory with tokenizer.json and a chat template.", Required = true };
        var adapter = new Option<DirectoryInfo?>("--adapter") { Description = "PEFT adapter directory." };
        var merge = new Option<bool>("--merge") { Description = "Merge the adapter into the base weights before chatting." };
        var dtype = new Option<string>("--dtype") { Description = "dtype to hold the base weights in: fp32, bf16 or fp16.", DefaultValueFactory = _ => "fp32" };
        dtype.AcceptOnlyFromAmong("fp32", "bf16", "fp16");
        var tokenizerDir = new Option<DirectoryInfo?>("--tokenizer") { Description = "Directory with tokenizer.json, tokenizer_config.json and the chat template (default: --base)." };
        var system = new Option<string?>("--system") { Description = "A system message that starts every conversation." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens per reply.", DefaultValueFactory = _ => 256 };
        var temperature = new Option<double?>("--temperature") { Description = "Sample at this temperature (default: greedy)." };
        var topP = new Option<double?>("--top-p") { Description = "Sample from the smallest set of tokens whose probability reaches P." };
        var topK = new Option<int?>("--top-k") { Description = "Sample from the K most likely tokens." };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of the sampling generator." };
        var command = new Command("chat", "Chat with a decoder LLM (and an optional adapter) in the terminal: replies stream as they are generated; /reset starts over, /exit quits.\n\nExample:\n  peft chat --base models/decoder --adapter runs/chat/best")
        {
            baseDir, adapter, merge, dtype, tokenizerDir, system, maxNew, temperature, topP, topK, seed,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var sampling = result.GetValue(temperature) is not null || result.GetValue(topP) is not null || result.GetValue(topK) is not null;
            var options = new GenerationOptions
            {
                MaxNewTokens = result.GetValue(maxNew),
                DoSample = sampling,
                Temperature = result.GetValue(temperature) ?? 1.0,
                TopP = result.GetValue(topP) ?? 1.0,
                TopK = result.GetValue(topK) ?? 0,
                Seed = result.GetValue(seed),
            };
            options.Validate();
            var model = DecoderLoader.Load(result.GetValue(baseDir)!.FullName, result.GetValue(adapter)?.FullName, result.GetValue(dtype)!, result.GetValue(merge));
            var encoder = PromptEncoder.Load(result.GetValue(tokenizerDir)?.FullName ?? result.GetValue(baseDir)!.FullName);
            var tokenizer = encoder.Tokenizer ?? throw new ArgumentException("peft chat needs tokenizer.json in --base or --tokenizer");
            _ = encoder.Template;
            var systemMessage = result.GetValue(system);
            var messages = NewConversation(systemMessage);
            Console.WriteLine("Type a message; /reset starts a new conversation, /exit quits.");
            while (true)
            {
                Console.Write("> ");
                var line = Console.ReadLine();
                if (line is null || line.Trim() == "/exit")
                {
                    return Program.Success;
                }

                if (line.Trim() == "/reset")
                {
                    messages = NewConversation(systemMessage);
                    Console.WriteLine("(new conversation)");
                    continue;
                }

                if (line.Trim().Length == 0)
                {
                    continue;
                }

                messages.Add(new JsonObject { ["role"] = "user", ["content"] = line });
                var prompt = encoder.EncodeConversation(messages);
                var stream = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
                var reply = DecoderGenerator.Generate(model, [prompt], options, onToken: (_, id) => Console.Write(stream.Add((int)id)))[0];
                Console.WriteLine(stream.Flush());
                var replyIds = reply.Where(id => !model.EosTokenIds.Contains((int)id)).Select(id => (int)id);
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = tokenizer.Decode(replyIds, skipSpecialTokens: true) });
            }
        }));
        return command;
    }

    private static List<JsonObject> NewConversation(string? system) =>
        system is null ? [] : [new JsonObject { ["role"] = "system", ["content"] = system }];
}
