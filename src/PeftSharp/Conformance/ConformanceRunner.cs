using PeftSharp.Adapters;

namespace PeftSharp.Conformance;

/// <summary>Whether a case passed.</summary>
public enum ConformanceStatus
{
    /// <summary>Every comparison was within tolerance.</summary>
    Pass,

    /// <summary>A comparison was out of tolerance, or the case could not run.</summary>
    Fail,

    /// <summary>The case's method or kind is not implemented yet.</summary>
    Skip,
}

/// <summary>The result of one case.</summary>
/// <param name="CaseName">The case's name.</param>
/// <param name="Method">Its method.</param>
/// <param name="Kind">Its kind.</param>
/// <param name="Status">Pass, fail or skip.</param>
/// <param name="MaxError">The largest absolute error over all comparisons.</param>
/// <param name="Where">Where the worst comparison was (or why the case failed or was skipped).</param>
/// <param name="Comparisons">How many values were compared.</param>
public sealed record ConformanceResult(string CaseName, string Method, string Kind, ConformanceStatus Status, double MaxError, string Where, int Comparisons)
{
    /// <summary>One line: <c>PASS lora-forward-01 (lora/forward) max|err| 2.4e-07 at expect/y[3,7]</c>.</summary>
    public override string ToString() => Status switch
    {
        ConformanceStatus.Skip => $"SKIP {CaseName} ({Method}/{Kind}): {Where}",
        _ => string.Create(CultureInfo.InvariantCulture,
            $"{(Status == ConformanceStatus.Pass ? "PASS" : "FAIL")} {CaseName} ({Method}/{Kind}) {Comparisons} checks, max|err| {MaxError:0.###e+00} at {Where}"),
    };
}

/// <summary>Runs conformance cases through the handlers the method registry provides.</summary>
public static class ConformanceRunner
{
    /// <summary>Runs every case in <paramref name="directory"/> (optionally only those of <paramref name="method"/>), in name order.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static IReadOnlyList<ConformanceResult> RunDirectory(string directory, string? method = null)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"conformance directory '{directory}' does not exist");
        }

        var results = new List<ConformanceResult>();
        foreach (var json in Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            ConformanceCase conformanceCase;
            try
            {
                conformanceCase = ConformanceCase.Load(json);
            }
            catch (PeftException e)
            {
                results.Add(new ConformanceResult(Path.GetFileNameWithoutExtension(json), "?", "?", ConformanceStatus.Fail, double.NaN, e.Message, 0));
                continue;
            }

            if (method is null || string.Equals(conformanceCase.Method, method, StringComparison.OrdinalIgnoreCase))
            {
                results.Add(Run(conformanceCase));
            }
        }

        return results;
    }

    /// <summary>Runs one case.</summary>
    public static ConformanceResult Run(ConformanceCase conformanceCase)
    {
        var handler = AdapterMethodRegistry.Find(conformanceCase.Method)?.CreateConformanceHandler();
        if (handler is null || !handler.Supports(conformanceCase.Kind))
        {
            var why = handler is null ? $"method '{conformanceCase.Method}' is not implemented yet" : $"kind '{conformanceCase.Kind}' is not implemented yet";
            return new ConformanceResult(conformanceCase.Name, conformanceCase.Method, conformanceCase.Kind, ConformanceStatus.Skip, 0, why, 0);
        }

        Dictionary<string, TorchSharp.torch.Tensor>? tensors = null;
        try
        {
            tensors = conformanceCase.LoadTensors();
            var check = new ConformanceCheck(conformanceCase, tensors);
            handler.Run(check);
            if (check.Results.Count == 0)
            {
                return Failed(conformanceCase, "the handler compared nothing");
            }

            var failed = check.Results.FirstOrDefault(r => !r.Passed);
            var worst = failed ?? check.Results.MaxBy(r => r.MaxError)!;
            return new ConformanceResult(
                conformanceCase.Name,
                conformanceCase.Method,
                conformanceCase.Kind,
                failed is null ? ConformanceStatus.Pass : ConformanceStatus.Fail,
                check.Results.Max(r => r.MaxError),
                worst.Where,
                check.Results.Count);
        }
        catch (Exception e) when (e is PeftException or IOException or InvalidOperationException or ArgumentException or KeyNotFoundException)
        {
            return Failed(conformanceCase, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            if (tensors is not null)
            {
                foreach (var tensor in tensors.Values)
                {
                    tensor.Dispose();
                }
            }
        }
    }

    /// <summary>The plain summary line: <c>N passed, N failed</c> (with <c>, N skipped</c> when any were skipped).</summary>
    public static string Summary(IReadOnlyList<ConformanceResult> results)
    {
        var passed = results.Count(r => r.Status == ConformanceStatus.Pass);
        var failed = results.Count(r => r.Status == ConformanceStatus.Fail);
        var skipped = results.Count(r => r.Status == ConformanceStatus.Skip);
        return skipped > 0 ? $"{passed} passed, {failed} failed, {skipped} skipped" : $"{passed} passed, {failed} failed";
    }

    private static ConformanceResult Failed(ConformanceCase c, string why) =>
        new(c.Name, c.Method, c.Kind, ConformanceStatus.Fail, double.NaN, why, 0);
}
