using System.CommandLine;
using PeftSharp.Adapters;
using PeftSharp.Models;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft predict</c>: run a Hugging Face model (optionally with a PEFT adapter) over JSONL records.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var baseDir = new Option<DirectoryInfo>("--base") { Description = "Hugging Face model directory (config.json + model.safetensors, optional tokenizer files).", Required = true };
        var adapter = new Option<DirectoryInfo?>("--adapter") { Description = "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)." };
        var data = new Option<FileInfo>("--data") { Description = "Input JSONL: records with input_ids (optional attention_mask, token_type_ids) or text.", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "Output JSONL, one record per input, in order.", Required = true }.File();
        var allPositions = new Option<bool>("--all-positions") { Description = "Causal LM: also write logits for every position." };
        var batchSize = new Option<int>("--batch-size") { Description = "Records per forward pass.", DefaultValueFactory = _ => 16 }.AtLeast(1);
        var dtype = new Option<string>("--dtype") { Description = "dtype to hold the base weights in: fp32, bf16 or fp16.", DefaultValueFactory = _ => "fp32" };
        dtype.AcceptOnlyFromAmong("fp32", "bf16", "fp16");
        var command = new Command("predict", "Predict with a base model and an optional PEFT adapter.\n\nExample:\n  peft predict --base model/ --adapter adapter/ --data inputs.jsonl --output out.jsonl")
        {
            baseDir,
            adapter,
            data,
            output,
            allPositions,
            batchSize,
            dtype,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var scalar = result.GetValue(dtype) switch { "bf16" => TorchSharp.torch.ScalarType.BFloat16, "fp16" => TorchSharp.torch.ScalarType.Float16, _ => TorchSharp.torch.ScalarType.Float32 };
            var model = PretrainedModel.FromPretrained(result.GetValue(baseDir)!.FullName, scalar, strict: true, out _);
            if (result.GetValue(adapter) is { } adapterDir)
            {
                var peft = PeftModel.FromPretrained(model, adapterDir.FullName);
                foreach (var warning in peft.Warnings)
                {
                    Console.Error.WriteLine($"warning: {warning}");
                }
            }

            // Decoder LLM tokenizers (tokenizer.json BPE) are not readable by TextTokenizer, whose
            // GPT-2/WordPiece readers would give wrong ids for them: decoders take input_ids.
            var tokenizer = model is PeftSharp.Models.Decoders.DecoderForCausalLM ? null : TextTokenizer.TryLoad(result.GetValue(baseDir)!.FullName);
            var inputs = Predictor.ReadInputs(result.GetValue(data)!.FullName, tokenizer is null ? null : text => tokenizer.Encode(text).InputIds);
            var records = Predictor.Predict(model, inputs, result.GetValue(allPositions), result.GetValue(batchSize)).ToList();
            Predictor.WriteOutputs(result.GetValue(output)!.FullName, records);
            Console.WriteLine($"{records.Count} predictions written to {result.GetValue(output)!.FullName}");
            return Program.Success;
        }));
        return command;
    }
}
