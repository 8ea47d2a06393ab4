using System.Diagnostics;

namespace PeftSharp.Benchmarks;

/// <summary>
/// A Python benchmark script kept running beside PeftSharp so that the two sides' steps can alternate
/// one by one: the script prints a JSON line when ready, then answers each <c>step</c> line on its
/// stdin with one JSON line (<c>bench/python/decoder_lora_step.py</c>'s protocol).
/// </summary>
internal sealed class PythonStepProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _errors = new();
    private readonly string _script;

    private PythonStepProcess(Process process, string script)
    {
        _process = process;
        _script = script;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_errors)
            {
                _errors.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
        Ready = ReadReply();
    }

    /// <summary>The script's first line (what it reports once it has loaded the weights).</summary>
    public JsonNode Ready { get; }

    /// <summary>Starts <paramref name="interpreter"/> on <paramref name="script"/> with <paramref name="arguments"/> and waits for its first line.</summary>
    /// <exception cref="PeftException">The interpreter cannot start, or the script exits before its first line.</exception>
    public static PythonStepProcess Start(string interpreter, string script, params string[] arguments)
    {
        var info = new ProcessStartInfo(interpreter) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            return new PythonStepProcess(Process.Start(info)!, script);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PeftException($"cannot start {interpreter}: {e.Message}", e);
        }
    }

    /// <summary>Sends <paramref name="command"/> and returns the script's JSON reply.</summary>
    public JsonNode Send(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        return ReadReply();
    }

    /// <summary>Asks the script to quit and waits for it (killing it after 10 s).</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Close();
                if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
                {
                    _process.Kill();
                }
            }
        }
        catch (IOException)
        {
            // The script already closed its end.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private JsonNode ReadReply()
    {
        var line = _process.StandardOutput.ReadLine();
        if (line is null)
        {
            _process.WaitForExit();
            string errors;
            lock (_errors)
            {
                errors = _errors.ToString().Trim();
            }

            throw new PeftException($"{_script} exited (code {_process.ExitCode}) without a reply: {errors.Split('\n').LastOrDefault(l => l.Length > 0) ?? "no message"}");
        }

        try
        {
            return JsonNode.Parse(line) ?? throw new PeftException($"{_script} replied '{line}', not a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new PeftException($"{_script} replied '{line}', not a JSON object", e);
        }
    }
}
