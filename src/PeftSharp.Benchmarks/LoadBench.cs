using System.Diagnostics;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Loading a Llama-3.2-1B-shaped bf16 checkpoint (hidden 2048, 16 layers, 32 heads / 8 KV heads,
/// head_dim 64, FFN 8192, vocabulary 128256, tied embeddings: 1.24 B parameters, 2.47 GB) with
/// random normal weights (σ 0.02) written to a temporary folder, then loaded by
/// <see cref="PretrainedModel.FromPretrained(string, ScalarType?, bool, out PeftSharp.IO.WeightsLoadReport)"/>
/// in bf16 in a child process, whose peak resident set (VmHWM) is reported against the checkpoint's size.
/// </summary>
public static class LoadBench
{
    /// <summary>The command-line switch that makes <c>peft bench</c> the measured child.</summary>
    public const string ChildSwitch = "--load-child";

    private const int Hidden = 2048;
    private const int Layers = 16;
    private const int Heads = 32;
    private const int KvHeads = 8;
    private const int HeadDim = 64;
    private const int Inner = 8192;
    private const int Vocab = 128256;

    /// <summary>
    /// The command that starts the child in the running <c>peft</c> (its apphost, or <c>dotnet peft.dll</c>):
    /// <c>peft bench --load-child</c>.
    /// </summary>
    public static IReadOnlyList<string> PeftChildCommand() => ChildProcess.Command("bench", ChildSwitch);

    /// <summary>Writes the checkpoint, loads it in a child process (<paramref name="childCommand"/> followed by the folder) and deletes it.</summary>
    public static IReadOnlyList<BenchRecord> Run(IReadOnlyList<string> childCommand, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(childCommand);
        var directory = Path.Combine(Path.GetTempPath(), $"peft-load-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(directory);
        try
        {
            var clock = Stopwatch.StartNew();
            var bytes = WriteCheckpoint(directory);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {bytes / 1e9:F2} GB of random bf16 weights in {clock.Elapsed.TotalSeconds:F0} s"));
            var line = ChildProcess.RunForLine(childCommand, [directory], "load ");
            var fields = line.Split(' ').Select(f => f.Split('=')).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
            var peak = fields["peak_rss"];
            var baseline = fields["baseline_rss"];
            var seconds = fields["seconds"];
            BenchRecord[] records =
            [
                new("load 1B bf16 checkpoint: peak RSS / checkpoint bytes", peak / bytes, "ratio", 1.2, Detail: string.Create(CultureInfo.InvariantCulture,
                    $"peak RSS {peak / 1e9:F2} GB (runtime before loading {baseline / 1e9:F2} GB; {(peak - baseline) / bytes:F2}× for the load itself), checkpoint {bytes / 1e9:F2} GB, Llama-3.2-1B shape, random bf16")),
                new("load 1B bf16 checkpoint: seconds", seconds, "s", Detail: string.Create(CultureInfo.InvariantCulture,
                    $"{bytes / 1e9 / seconds:F2} GB/s from a file just written (in the page cache)")),
            ];
            foreach (var record in records)
            {
                log.WriteLine(record);
            }

            return records;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The child: loads <paramref name="directory"/> in bf16 and prints <c>load seconds=… peak_rss=… baseline_rss=…</c> (bytes).</summary>
    public static void Child(string directory, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        using var warm = zeros(1);
        var baseline = ChildProcess.StatusBytes("VmRSS");
        var clock = Stopwatch.StartNew();
        using var model = PretrainedModel.FromPretrained(directory, ScalarType.BFloat16, strict: true, out _);
        var seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load seconds={seconds:F3} peak_rss={ChildProcess.StatusBytes("VmHWM")} baseline_rss={baseline}"));
    }

    private static long WriteCheckpoint(string directory)
    {
        var tensors = new List<(string Name, long[] Shape)> { ("model.embed_tokens.weight", [Vocab, Hidden]) };
        for (var i = 0; i < Layers; i++)
        {
            var prefix = $"model.layers.{i}.";
            tensors.Add((prefix + "input_layernorm.weight", [Hidden]));
            tensors.Add((prefix + "self_attn.q_proj.weight", [Heads * HeadDim, Hidden]));
            tensors.Add((prefix + "self_attn.k_proj.weight", [KvHeads * HeadDim, Hidden]));
            tensors.Add((prefix + "self_attn.v_proj.weight", [KvHeads * HeadDim, Hidden]));
            tensors.Add((prefix + "self_attn.o_proj.weight", [Hidden, Heads * HeadDim]));
            tensors.Add((prefix + "post_attention_layernorm.weight", [Hidden]));
            tensors.Add((prefix + "mlp.gate_proj.weight", [Inner, Hidden]));
            tensors.Add((prefix + "mlp.up_proj.weight", [Inner, Hidden]));
            tensors.Add((prefix + "mlp.down_proj.weight", [Hidden, Inner]));
        }

        tensors.Add(("model.norm.weight", [Hidden]));
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            var length = shape.Aggregate(2L, (a, b) => a * b);
            header[name] = new JsonObject { ["dtype"] = "BF16", ["shape"] = new JsonArray([.. shape.Select(s => (JsonNode?)s)]), ["data_offsets"] = new JsonArray(offset, offset + length) };
            offset += length;
        }

        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (headerBytes.Length + 7) / 8 * 8;
        using (var stream = new FileStream(Path.Combine(directory, "model.safetensors"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            stream.Write(BitConverter.GetBytes((long)padded));
            stream.Write(headerBytes);
            stream.Write(Enumerable.Repeat((byte)' ', padded - headerBytes.Length).ToArray());
            var generator = new Generator(0);
            foreach (var (_, shape) in tensors)
            {
                var count = shape.Aggregate(1L, (a, b) => a * b);
                for (long done = 0; done < count;)
                {
                    var chunk = Math.Min(count - done, 1L << 23);
                    using var scope = NewDisposeScope();
                    var values = shape.Length == 1 ? ones(chunk, dtype: ScalarType.BFloat16) : (randn([chunk], generator: generator) * 0.02).to(ScalarType.BFloat16);
                    stream.Write(values.bytes);
                    done += chunk;
                }
            }
        }

        File.WriteAllText(Path.Combine(directory, "config.json"), Llama1BConfigJson().ToJsonString());
        return 8 + padded + offset;
    }

    /// <summary>The <c>config.json</c> of the Llama-3.2-1B shape (tied embeddings, llama3 RoPE scaling, bf16).</summary>
    public static JsonObject Llama1BConfigJson() => new()
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama", ["vocab_size"] = Vocab, ["hidden_size"] = Hidden,
        ["intermediate_size"] = Inner, ["num_hidden_layers"] = Layers, ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads,
        ["head_dim"] = HeadDim, ["max_position_embeddings"] = 131072, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 500000.0,
        ["rope_scaling"] = new JsonObject { ["factor"] = 32.0, ["high_freq_factor"] = 4.0, ["low_freq_factor"] = 1.0, ["original_max_position_embeddings"] = 8192, ["rope_type"] = "llama3" },
        ["tie_word_embeddings"] = true, ["torch_dtype"] = "bfloat16", ["bos_token_id"] = 128000, ["eos_token_id"] = 128001, ["hidden_act"] = "silu",
    };
}
