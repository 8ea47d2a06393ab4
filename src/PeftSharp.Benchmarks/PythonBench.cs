using System.Diagnostics;
using PeftSharp.Adapters;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// PeftSharp against the Python stack: the encoder's LoRA training step in PeftSharp and in our own
/// PyTorch script (<c>bench/python/lora_step.py</c>, Debian's python3-torch with OpenBLAS, installed by
/// <c>bench/python/setup.sh</c>) on the same weights and batch, which PeftSharp writes to a
/// safetensors file. Checks both compute the same first loss, then alternates the two timings.
/// </summary>
public static class PythonBench
{
    /// <summary>The Python interpreter (Debian's, where python3-torch installs); override with PEFT_PYTHON.</summary>
    public static string Interpreter => Environment.GetEnvironmentVariable("PEFT_PYTHON") ?? "/usr/bin/python3";

    /// <summary>Whether <see cref="Interpreter"/> can import torch and numpy.</summary>
    public static bool IsAvailable() => Run(Interpreter, ["-c", "import torch, numpy"]).Code == 0;

    /// <summary>Runs the comparison; throws a <see cref="PeftException"/> saying how to install PyTorch when it is missing.</summary>
    public static IReadOnlyList<BenchRecord> Run(string root, int layers, int hidden, int rounds, TextWriter log)
    {
        var script = Path.Combine(root, "bench", "python", "lora_step.py");
        if (!IsAvailable())
        {
            throw new PeftException($"PyTorch is not installed for {Interpreter}: run 'bash bench/python/setup.sh' first (Debian's python3-torch and libopenblas0-pthread)");
        }

        const int batch = 8, seq = 128, rank = 8;
        var config = ModelThroughput.EncoderConfig(layers, hidden, hidden / 64, dropout: 0);
        manual_seed(1);
        var ids = randint(1, 8000, [batch, seq]);
        var labels = randint(0, 4, [batch]);
        var (model, step) = MethodStepBench.Build(config, ids, labels, MethodStepBench.Baseline(rank));
        using (no_grad())
        {
            // B starts at zero; make the adapters live so the loss check covers their math.
            foreach (var p in model.named_parameters().Where(p => p.name.Contains("lora_B", StringComparison.Ordinal)))
            {
                p.parameter.normal_(0, 0.02);
            }
        }

        var file = Path.Combine(Path.GetTempPath(), $"peftsharp-python-bench-{Environment.ProcessId}.safetensors");
        double loss0;
        using (no_grad())
        {
            loss0 = nn.functional.cross_entropy(model.Forward(ids), labels).item<float>();
            var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.contiguous());
            tensors["batch/ids"] = ids;
            tensors["batch/labels"] = labels;
            tensors["meta/heads"] = tensor(new long[] { hidden / 64 });
            tensors["meta/layers"] = tensor(new long[] { layers });
            tensors["meta/threads"] = tensor(new long[] { get_num_threads() });
            tensors["meta/scaling"] = tensor(new[] { 16.0 / rank });
            SafetensorsWriter.Save(file, tensors);
        }

        try
        {
            var python = new List<double>();
            var csharp = new List<double>();
            double pythonLoss = double.NaN;
            string version = "?";
            for (var i = 0; i < 3; i++)
            {
                step();
            }

            for (var block = 0; block < 2; block++)
            {
                var (code, output, error) = Run(Interpreter, [script, file, rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), "3"]);
                if (code != 0)
                {
                    throw new PeftException($"{script} failed: {error.Trim().Split('\n').LastOrDefault()}");
                }

                var result = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
                pythonLoss = result["loss0"]!.GetValue<double>();
                version = result["torch"]!.GetValue<string>();
                python.AddRange(result["round_ms"]!.AsArray().Select(v => v!.GetValue<double>()));
                for (var r = 0; r < rounds; r++)
                {
                    var clock = Stopwatch.StartNew();
                    for (var s = 0; s < 3; s++)
                    {
                        step();
                    }

                    csharp.Add(clock.Elapsed.TotalMilliseconds / 3);
                }
            }

            var (cs, py) = (SideBySide.Median(csharp), SideBySide.Median(python));
            var shape = $"{layers} layers d {hidden}, batch {batch} × {seq}, LoRA r {rank} on query+value, dropout 0; PyTorch {version}";
            var records = new List<BenchRecord>
            {
                new("PeftSharp LoRA step / PyTorch LoRA step", cs / py, "ratio", 0.5, Detail: FormattableString.Invariant($"{cs:F1} ms vs {py:F1} ms; {shape}")),
                new("|first loss PeftSharp − PyTorch| (same weights and batch)", Math.Abs(loss0 - pythonLoss), "abs", 1e-4, Detail: FormattableString.Invariant($"{loss0:F6} vs {pythonLoss:F6}")),
            };
            records.ForEach(log.WriteLine);
            return records;
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static (int Code, string Output, string Error) Run(string program, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(info)!;
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output, error.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (127, string.Empty, e.Message);
        }
    }
}
