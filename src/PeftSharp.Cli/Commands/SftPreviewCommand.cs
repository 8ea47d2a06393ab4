using System.CommandLine;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft sft-preview</c>: the token ids and labels of supervised fine-tuning data exactly as training sees them.</summary>
internal static class SftPreviewCommand
{
    public static Command Create()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "Model directory with tokenizer.json, tokenizer_config.json and (for messages) the chat template.", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "SFT JSONL: text, prompt/completion or messages records.", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "JSONL to write: per example its line, input_ids, labels (-100 where not supervised) and the decoded supervised spans.", Required = true }.File();
        var maxLength = new Option<int>("--max-length") { DefaultValueFactory = _ => 1024, Description = "Tokens per example (longer ones are cut as training cuts them)." };
        var command = new Command("sft-preview", "Write the input_ids and labels of SFT data exactly as `peft train` sees them, with the supervised text decoded, to check the loss masks before training.\n\nExample:\n  peft sft-preview --base models/decoder --data data/g2p/train.jsonl --output preview.jsonl")
        {
            baseDir, data, output, maxLength,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var dataPath = result.GetValue(data)!.FullName;
            var encoder = SftInputs.Encoder(result.GetValue(baseDir)!.FullName, dataPath, result.GetValue(maxLength));
            var dataset = SftDataset.Load(dataPath, encoder);
            var lines = dataset.Examples.Select((example, i) => new JsonObject
            {
                ["line"] = dataset.Lines[i],
                ["input_ids"] = new JsonArray([.. example.InputIds.Select(id => (JsonNode?)id)]),
                ["labels"] = new JsonArray([.. example.Labels.Select(label => (JsonNode?)label)]),
                ["supervised_text"] = new JsonArray([.. SupervisedSpans(example).Select(span => (JsonNode?)encoder.Tokenizer.Decode(span))]),
            }.ToJsonString());
            AtomicFile.WriteAllText(result.GetValue(output)!.FullName, string.Join('\n', lines) + "\n");
            Console.WriteLine(dataset.Describe(encoder.MaxLength));
            Console.WriteLine($"pad id {encoder.PadTokenId}, EOS id {encoder.EosTokenId}; written to {result.GetValue(output)!.FullName}");
            return Program.Success;
        }));
        return command;
    }

    /// <summary>The runs of consecutive supervised ids.</summary>
    private static List<List<int>> SupervisedSpans(CausalLmExample example)
    {
        var spans = new List<List<int>>();
        for (var t = 0; t < example.Length; t++)
        {
            if (example.Labels[t] == CausalLmLoss.IgnoreIndex)
            {
                continue;
            }

            if (t == 0 || example.Labels[t - 1] == CausalLmLoss.IgnoreIndex)
            {
                spans.Add([]);
            }

            spans[^1].Add((int)example.Labels[t]);
        }

        return spans;
    }
}
