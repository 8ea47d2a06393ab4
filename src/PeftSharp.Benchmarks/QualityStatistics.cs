namespace PeftSharp.Benchmarks;

/// <summary>
/// Student's t distribution for integer degrees of freedom, exact through the closed forms of
/// Abramowitz &amp; Stegun 26.7.3–26.7.4 (no tables, no approximations beyond floating point).
/// </summary>
public static class StudentT
{
    /// <summary>P(|T| ≤ <paramref name="t"/>) for T with <paramref name="degreesOfFreedom"/> degrees of freedom.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="degreesOfFreedom"/> is below 1.</exception>
    public static double CentralProbability(double t, int degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(degreesOfFreedom, 1);
        if (double.IsPositiveInfinity(Math.Abs(t)))
        {
            return 1;
        }

        var theta = Math.Atan(Math.Abs(t) / Math.Sqrt(degreesOfFreedom));
        var (sin, cos) = Math.SinCos(theta);
        var cos2 = cos * cos;
        if (degreesOfFreedom % 2 == 1)
        {
            // (2/π){θ + sinθ[cosθ + (2/3)cos³θ + … + (2·4…(ν−3))/(1·3…(ν−2))·cos^(ν−2)θ]}
            double sum = 0, term = cos;
            for (var k = 1; k <= (degreesOfFreedom - 1) / 2; k++)
            {
                sum += term;
                term *= cos2 * (2 * k) / (2 * k + 1);
            }

            return 2 / Math.PI * (theta + sin * sum);
        }
        else
        {
            // sinθ[1 + (1/2)cos²θ + (1·3)/(2·4)cos⁴θ + … + (1·3…(ν−3))/(2·4…(ν−2))·cos^(ν−2)θ]
            double sum = 0, term = 1;
            for (var k = 1; k <= degreesOfFreedom / 2; k++)
            {
                sum += term;
                term *= cos2 * (2 * k - 1) / (2 * k);
            }

            return sin * sum;
        }
    }

    /// <summary>
    /// The t with P(|T| ≤ t) = <paramref name="confidence"/> (for 0.95 the 0.975 quantile, e.g. 2.776 at 4 degrees of freedom),
    /// found by bisection on <see cref="CentralProbability"/> to machine precision.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="confidence"/> is not in (0, 1) or <paramref name="degreesOfFreedom"/> is below 1.</exception>
    public static double TwoSidedQuantile(double confidence, int degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(degreesOfFreedom, 1);
        if (!(confidence is > 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "a confidence level must be in (0, 1)");
        }

        double low = 0, high = 1;
        while (CentralProbability(high, degreesOfFreedom) < confidence)
        {
            high *= 2;
        }

        for (var i = 0; i < 200 && high - low > 1e-13 * high; i++)
        {
            var middle = (low + high) / 2;
            (low, high) = CentralProbability(middle, degreesOfFreedom) < confidence ? (middle, high) : (low, middle);
        }

        return (low + high) / 2;
    }
}

/// <summary>
/// A mean over seeds with its two-sided Student-t confidence interval: <c>mean ± t_{(1+c)/2, n−1} · s / √n</c>
/// with <c>s</c> the sample standard deviation.
/// </summary>
/// <param name="Mean">The mean.</param>
/// <param name="HalfWidth">Half the interval's width.</param>
/// <param name="Count">The number of values (seeds).</param>
/// <param name="Confidence">The confidence level (0.95).</param>
public sealed record ConfidenceInterval(double Mean, double HalfWidth, int Count, double Confidence = 0.95)
{
    /// <summary>The interval's lower end.</summary>
    public double Low => Mean - HalfWidth;

    /// <summary>The interval's upper end.</summary>
    public double High => Mean + HalfWidth;

    /// <summary>Whether <paramref name="value"/> lies inside the closed interval.</summary>
    public bool Contains(double value) => value >= Low && value <= High;

    /// <summary>The interval of the mean of <paramref name="values"/> (at least two).</summary>
    /// <exception cref="ArgumentException">Fewer than two values, or a value that is not finite.</exception>
    public static ConfidenceInterval Of(IReadOnlyList<double> values, double confidence = 0.95)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count < 2)
        {
            throw new ArgumentException($"a confidence interval needs at least 2 values (seeds), got {values.Count}", nameof(values));
        }

        if (values.Any(v => !double.IsFinite(v)))
        {
            throw new ArgumentException($"a confidence interval needs finite values, got {values.First(v => !double.IsFinite(v)).ToString(CultureInfo.InvariantCulture)}", nameof(values));
        }

        var mean = values.Average();
        var variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        var half = StudentT.TwoSidedQuantile(confidence, values.Count - 1) * Math.Sqrt(variance / values.Count);
        return new ConfidenceInterval(mean, half, values.Count, confidence);
    }

    /// <summary>
    /// The paired interval of <c>a − b</c> for two configurations run at the same seeds: the interval of
    /// the per-seed differences <c>a[i] − b[i]</c> (the seed's shared noise cancels).
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length, or hold fewer than two pairs.</exception>
    public static ConfidenceInterval Paired(IReadOnlyList<double> a, IReadOnlyList<double> b, double confidence = 0.95)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"a paired interval needs one value of each configuration per seed, got {a.Count} and {b.Count}", nameof(b));
        }

        return Of([.. a.Zip(b, (x, y) => x - y)], confidence);
    }

    /// <summary>"mean ± half-width" followed by the interval and the number of seeds.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Mean:0.##} ± {HalfWidth:0.##} ({Confidence * 100:0} % CI [{Low:0.##}, {High:0.##}], {Count} seeds)");
}
