using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using static TorchSharp.torch;

namespace PeftSharp.Cli.Commands;

/// <summary>Loads a decoder and its optional adapter for <c>peft generate</c> and <c>peft chat</c>.</summary>
internal static class DecoderLoader
{
    /// <summary>The decoder in <paramref name="baseDirectory"/> held in <paramref name="dtype"/> (fp32, bf16, fp16), with the adapter applied or merged.</summary>
    public static DecoderForCausalLM Load(string baseDirectory, string? adapterDirectory, string dtype, bool merge)
    {
        var scalar = dtype switch { "bf16" => ScalarType.BFloat16, "fp16" => ScalarType.Float16, _ => ScalarType.Float32 };
        var model = PretrainedModel.FromPretrained(baseDirectory, scalar, strict: true, out _) as DecoderForCausalLM
            ?? throw new ArgumentException($"{baseDirectory}: this command needs a decoder model (llama, mistral, qwen2, qwen3, phi3)");
        if (adapterDirectory is not null)
        {
            var peft = PeftModel.FromPretrained(model, adapterDirectory);
            foreach (var warning in peft.Warnings)
            {
                Console.Error.WriteLine($"warning: {warning}");
            }

            if (merge)
            {
                peft.MergeAdapter();
            }
        }
        else if (merge)
        {
            throw new ArgumentException("--merge needs --adapter");
        }

        return model;
    }
}
