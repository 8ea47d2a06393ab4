using static TorchSharp.torch;

namespace PeftSharp.Conformance;

/// <summary>The outcome of comparing one produced value with its expectation.</summary>
/// <param name="Name">The expectation's name (a tensor path or a scalar label).</param>
/// <param name="Passed">Whether every element is within tolerance.</param>
/// <param name="MaxError">The largest absolute difference.</param>
/// <param name="Where">The element with the worst error relative to its tolerance, for example <c>expect/y[3,7]</c>.</param>
public sealed record ComparisonResult(string Name, bool Passed, double MaxError, string Where);

/// <summary>
/// Collects the comparisons of one case: <c>|got − want| ≤ atol + rtol·|want|</c> elementwise, as
/// FORMAT.md defines.
/// </summary>
public sealed class ConformanceCheck
{
    private readonly List<ComparisonResult> _results = [];
    private readonly IReadOnlyDictionary<string, Tensor> _tensors;

    /// <summary>Creates a check with the case's tolerances and tensors.</summary>
    public ConformanceCheck(ConformanceCase conformanceCase, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Case = conformanceCase;
        _tensors = tensors;
    }

    /// <summary>The case being checked.</summary>
    public ConformanceCase Case { get; }

    /// <summary>Every comparison so far.</summary>
    public IReadOnlyList<ComparisonResult> Results => _results;

    /// <summary>A tensor of the case's file.</summary>
    /// <exception cref="PeftException">The file has no such tensor.</exception>
    public Tensor Input(string name) =>
        _tensors.TryGetValue(name, out var tensor) ? tensor : throw new PeftException($"{Case.TensorsPath}: conformance case has no tensor '{name}'");

    /// <summary>True when the case's file has tensor <paramref name="name"/>.</summary>
    public bool Has(string name) => _tensors.ContainsKey(name);

    /// <summary>Compares <paramref name="got"/> with the case tensor <paramref name="expectName"/>.</summary>
    public ComparisonResult Tensor(string expectName, Tensor got) => Compare(expectName, got, Input(expectName));

    /// <summary>Compares a produced scalar with an expected one.</summary>
    public ComparisonResult Scalar(string label, double got, double want)
    {
        var error = Math.Abs(got - want);
        var passed = error <= Case.Atol + Case.Rtol * Math.Abs(want) || (double.IsNaN(got) && double.IsNaN(want));
        var result = new ComparisonResult(label, passed, error, string.Create(CultureInfo.InvariantCulture, $"{label} (got {got:G9}, want {want:G9})"));
        _results.Add(result);
        return result;
    }

    /// <summary>Compares two tensors of any dtype (compared in float64).</summary>
    public ComparisonResult Compare(string name, Tensor got, Tensor want)
    {
        using var scope = NewDisposeScope();
        if (!got.shape.SequenceEqual(want.shape))
        {
            var mismatch = new ComparisonResult(name, false, double.PositiveInfinity,
                $"{name}: shape [{string.Join(",", got.shape)}], expected [{string.Join(",", want.shape)}]");
            _results.Add(mismatch);
            return mismatch;
        }

        var g = got.detach().to(ScalarType.Float64).cpu();
        var w = want.detach().to(ScalarType.Float64).cpu();
        var error = (g - w).abs();
        var bound = w.abs() * Case.Rtol + Case.Atol;
        var ratio = error / bound;
        var nanMismatch = isnan(g).logical_xor(isnan(w));
        ratio = where(nanMismatch, full_like(ratio, double.PositiveInfinity), ratio.nan_to_num(0));
        var maxError = error.numel() == 0 ? 0 : error.nan_to_num(0).max().item<double>();
        var worst = ratio.numel() == 0 ? 0 : ratio.argmax().item<long>();
        var passed = ratio.numel() == 0 || ratio.max().item<double>() <= 1.0;
        var result = new ComparisonResult(name, passed, maxError, $"{name}{IndexText(worst, got.shape)}");
        _results.Add(result);
        return result;
    }

    private static string IndexText(long flat, long[] shape)
    {
        if (shape.Length == 0)
        {
            return string.Empty;
        }

        var index = new long[shape.Length];
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            index[i] = shape[i] == 0 ? 0 : flat % shape[i];
            flat = shape[i] == 0 ? 0 : flat / shape[i];
        }

        return "[" + string.Join(",", index) + "]";
    }
}
