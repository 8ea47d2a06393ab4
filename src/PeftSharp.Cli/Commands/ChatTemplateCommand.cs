using System.CommandLine;
using PeftSharp.Models;
using PeftSharp.Models.Chat;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft chat-template</c>: render conversations with a tokenizer directory's chat template, as transformers' <c>apply_chat_template</c>.</summary>
internal static class ChatTemplateCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<DirectoryInfo>("--tokenizer") { Description = "Tokenizer directory: chat_template.jinja or tokenizer_config.json (chat_template and the special tokens).", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "Input JSONL: records with messages, optional add_generation_prompt, other fields as template variables (tools, documents…).", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "Output JSONL: {\"text\": …} per record, in order.", Required = true }.File();
        var name = new Option<string?>("--template-name") { Description = "Which named template of a list in tokenizer_config.json (default: \"default\")." };
        var command = new Command("chat-template", "Render conversations with a model's chat template (Jinja, sandboxed), as transformers' apply_chat_template(tokenize=False).\n\nExample:\n  peft chat-template --tokenizer model/ --data conversations.jsonl --output rendered.jsonl")
        {
            tokenizer,
            data,
            output,
            name,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var template = ChatTemplate.Load(result.GetValue(tokenizer)!.FullName, result.GetValue(name));
            var path = result.GetValue(data)!.FullName;
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"{path}: the data file does not exist");
            }

            var records = new List<JsonObject>();
            foreach (var conversation in ChatConversation.ReadJsonLines(path))
            {
                try
                {
                    records.Add(new JsonObject { ["text"] = template.Render(conversation.Messages, conversation.AddGenerationPrompt, conversation.Variables) });
                }
                catch (ChatTemplateException e)
                {
                    throw new ConfigFormatException($"{path}:{conversation.Line}", null, e.Message, e);
                }
            }

            Predictor.WriteOutputs(result.GetValue(output)!.FullName, records);
            Console.WriteLine($"{records.Count} conversations rendered to {result.GetValue(output)!.FullName}");
            return Program.Success;
        }));
        return command;
    }
}
