using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using static TorchSharp.torch;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft generate</c>: continue prompts with a decoder LLM (optionally with a PEFT adapter).</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var decoder = new DecoderLoader();
        var data = new Option<FileInfo>("--data") { Description = "Input JSONL: records with input_ids, prompt (encoded with the tokenizer's special tokens) or messages (rendered with the chat template, generation prompt added).", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "Output JSONL: {\"output_ids\": new tokens, \"text\": their decoding when a tokenizer is available}, one per input, in order.", Required = true }.File();
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate per record.", DefaultValueFactory = _ => 32 };
        var greedy = new Option<bool>("--greedy") { Description = "Take the most likely token each step (the default unless a sampling option is given)." };
        var penalty = new Option<double>("--repetition-penalty") { Description = "Penalise tokens already in the prompt or output (1: off).", DefaultValueFactory = _ => 1.0 };
        var batchSize = new Option<int>("--batch-size") { Description = "Records generated together (left-padded).", DefaultValueFactory = _ => 1 };
        var stop = new Option<string[]>("--stop") { Description = "Stop a record once its decoded output contains this text (repeatable; needs a tokenizer).", AllowMultipleArgumentsPerToken = false };
        var command = new Command("generate", "Generate text with a decoder LLM and an optional PEFT adapter.\n\nExample:\n  peft generate --base model/ --adapter adapter/ --data prompts.jsonl --output out.jsonl --greedy --max-new-tokens 64")
        {
            data, output, maxNew, greedy, penalty, batchSize, stop,
        };
        decoder.AddTo(command);
        command.SetAction(result => Program.Guarded(() =>
        {
            if (decoder.Samples(result) && result.GetValue(greedy))
            {
                throw new ArgumentException("--greedy cannot be combined with --temperature, --top-p or --top-k");
            }

            var options = decoder.Generation(result, result.GetValue(maxNew)) with
            {
                RepetitionPenalty = result.GetValue(penalty),
                BatchSize = result.GetValue(batchSize),
                StopStrings = result.GetValue(stop) ?? [],
            };
            decoder.Check(options, (nameof(options.MaxNewTokens), maxNew), (nameof(options.RepetitionPenalty), penalty), (nameof(options.BatchSize), batchSize));

            var model = decoder.Model(result);
            var encoder = decoder.Encoder(result);
            if (options.StopStrings.Count > 0 && encoder.Tokenizer is null)
            {
                throw new ArgumentException("--stop needs a tokenizer (tokenizer.json in --base or --tokenizer) to decode the output");
            }

            var prompts = ReadPrompts(result.GetValue(data)!.FullName, encoder);
            Func<IReadOnlyList<long>, string>? decode = encoder.Tokenizer is { } tokenizer
                ? ids => tokenizer.Decode(ids.Select(id => (int)id), skipSpecialTokens: true)
                : null;
            var outputs = DecoderGenerator.Generate(model, prompts, options, decode);
            Predictor.WriteOutputs(result.GetValue(output)!.FullName, outputs.Select(ids =>
            {
                var record = new JsonObject { ["output_ids"] = new JsonArray([.. ids.Select(id => (JsonNode?)id)]) };
                if (decode is not null)
                {
                    record["text"] = decode(ids);
                }

                return record;
            }));
            Console.WriteLine($"{outputs.Count} generations written to {result.GetValue(output)!.FullName}");
            return Program.Success;
        }));
        return command;
    }

    /// <summary>Reads one prompt per JSONL record (<c>input_ids</c>, <c>prompt</c> or <c>messages</c>).</summary>
    private static List<long[]> ReadPrompts(string path, PromptEncoder encoder)
    {
        var prompts = new List<long[]>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (!string.IsNullOrWhiteSpace(line))
            {
                prompts.Add(encoder.EncodeRecord(ConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(line), $"{path}:{number}")));
            }
        }

        return prompts;
    }
}
