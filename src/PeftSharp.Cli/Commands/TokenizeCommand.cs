using System.CommandLine;
using System.Text.Encodings.Web;
using PeftSharp.Models.Tokenizers;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft tokenize</c>: encode the <c>text</c> of JSONL records with a Hugging Face tokenizer.json.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizerDir = new Option<DirectoryInfo>("--tokenizer") { Description = "Directory with tokenizer.json (and optionally tokenizer_config.json).", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "Input JSONL: one object with a \"text\" string per line.", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "Output JSONL: {\"input_ids\": [...], \"tokens\": [...]} per input line, in order.", Required = true }.File();
        var noSpecial = new Option<bool>("--no-special-tokens") { Description = "Do not add the tokenizer's special tokens (such as BOS)." };
        var command = new Command("tokenize", "Encode texts with a Hugging Face tokenizer (tokenizer.json of byte-level or byte-fallback BPE).\n\nExample:\n  peft tokenize --tokenizer model/ --data texts.jsonl --output ids.jsonl")
        {
            tokenizerDir,
            data,
            output,
            noSpecial,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var tokenizer = HfTokenizer.Load(result.GetValue(tokenizerDir)!.FullName);
            var input = result.GetValue(data)!.FullName;
            var outputPath = result.GetValue(output)!.FullName;
            var count = Tokenize(tokenizer, input, outputPath, addSpecialTokens: !result.GetValue(noSpecial));
            Console.WriteLine($"{count} records written to {outputPath}");
            return Program.Success;
        }));
        return command;
    }

    /// <summary>Encodes every record of <paramref name="input"/> into <paramref name="output"/> (written whole or not at all); returns the record count.</summary>
    private static int Tokenize(HfTokenizer tokenizer, string input, string output, bool addSpecialTokens)
    {
        if (!File.Exists(input))
        {
            throw new ConfigFormatException(input, null, "the file does not exist");
        }

        var temporary = output + ".tmp";
        try
        {
            var count = Write(tokenizer, input, temporary, addSpecialTokens);
            File.Move(temporary, output, overwrite: true);
            return count;
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static int Write(HfTokenizer tokenizer, string input, string temporary, bool addSpecialTokens)
    {
        var count = 0;
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var stream = File.Create(temporary))
        {
            var lineNumber = 0;
            foreach (var line in File.ReadLines(input))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }

                var encoding = tokenizer.EncodeWithTokens(ReadText(line, $"{input}:{lineNumber}"), addSpecialTokens);
                using (var writer = new Utf8JsonWriter(stream, options))
                {
                    writer.WriteStartObject();
                    writer.WriteStartArray("input_ids");
                    foreach (var id in encoding.Ids)
                    {
                        writer.WriteNumberValue(id);
                    }

                    writer.WriteEndArray();
                    writer.WriteStartArray("tokens");
                    foreach (var token in encoding.Tokens)
                    {
                        writer.WriteStringValue(token);
                    }

                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }

                stream.WriteByte((byte)'\n');
                count++;
            }
        }

        return count;
    }

    private static string ReadText(string line, string location)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(line);
        }
        catch (JsonException e)
        {
            throw new ConfigFormatException(location, null, $"not valid JSON: {JsonErrorText.Describe(e, singleLine: true)}", e);
        }

        if (node is not JsonObject record)
        {
            throw new ConfigFormatException(location, null, "expected a JSON object with a \"text\" string");
        }

        try
        {
            return record["text"] is JsonValue value && value.TryGetValue<string>(out var text)
                ? text
                : throw new ConfigFormatException(location, "text", "expected a string");
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigFormatException(location, "text", "not valid text", e);
        }
    }
}
