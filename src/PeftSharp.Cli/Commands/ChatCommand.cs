using System.CommandLine;
using PeftSharp.Models.Decoders;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft chat</c>: an interactive conversation with a decoder LLM, streamed token by token.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var decoder = new DecoderLoader();
        var system = new Option<string?>("--system") { Description = "A system message that starts every conversation." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens per reply.", DefaultValueFactory = _ => 256 };
        var command = new Command("chat", "Chat with a decoder LLM (and an optional adapter) in the terminal: replies stream as they are generated; /reset starts over, /exit quits.\n\nExample:\n  peft chat --base models/decoder --adapter runs/chat/best")
        {
            system, maxNew,
        };
        decoder.AddTo(command);
        command.SetAction(result => Program.Guarded(() =>
        {
            var options = decoder.Generation(result, result.GetValue(maxNew));
            decoder.Check(options, (nameof(options.MaxNewTokens), maxNew));
            var model = decoder.Model(result);
            var encoder = decoder.Encoder(result);
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
