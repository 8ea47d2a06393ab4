using System.Globalization;
using System.Text;

namespace PeftSharp.Training;

/// <summary>Minimal SVG line charts for reports (no native graphics dependency).</summary>
public static class SvgPlot
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

    /// <summary>A line chart of named series over their index (step), with axis labels.</summary>
    public static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<(string Name, IReadOnlyList<double> Values)> series)
    {
        const double width = 640, height = 360, left = 60, right = 20, top = 40, bottom = 50;
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        var (min, max) = all.Count == 0 ? (0.0, 1.0) : (all.Min(), all.Max());
        if (max - min < 1e-12)
        {
            max = min + 1;
        }

        var longest = Math.Max(2, series.Select(s => s.Values.Count).DefaultIfEmpty(0).Max());
        string X(double i) => (left + (width - left - right) * i / (longest - 1)).ToString("F1", CultureInfo.InvariantCulture);
        string Y(double v) => (top + (height - top - bottom) * (1 - (v - min) / (max - min))).ToString("F1", CultureInfo.InvariantCulture);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"black\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"black\"/>\n");
        for (var t = 0; t <= 4; t++)
        {
            var v = min + (max - min) * t / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{Y(v)}\" text-anchor=\"end\" dominant-baseline=\"middle\">{v:G3}</text>\n");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"{height - bottom + 18}\">0</text><text x=\"{width - right}\" y=\"{height - bottom + 18}\" text-anchor=\"end\">{longest - 1}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"{height - 10}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"16\" y=\"{height / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {height / 2})\">{Escape(yLabel)}</text>\n");
        for (var s = 0; s < series.Count; s++)
        {
            var points = string.Join(' ', series[s].Values.Select((v, i) => $"{X(i)},{Y(double.IsFinite(v) ? v : max)}"));
            var color = Colors[s % Colors.Length];
            svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{points}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width - right - 4}\" y=\"{top + 14 * (s + 1)}\" text-anchor=\"end\" fill=\"{color}\">{Escape(series[s].Name)}</text>\n");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Moving average over <paramref name="window"/> values (for noisy loss curves).</summary>
    public static IReadOnlyList<double> Smooth(IReadOnlyList<double> values, int window)
    {
        var result = new double[values.Count];
        double sum = 0;
        for (var i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window)
            {
                sum -= values[i - window];
            }

            result[i] = sum / Math.Min(i + 1, window);
        }

        return result;
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
