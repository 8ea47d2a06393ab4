using System.Text.RegularExpressions;
using ScottPlot;

namespace PeftSharp.Cli.Reports;

/// <summary>The PNG charts of the CLI's reports (ScottPlot): titled, labelled, readable at a glance.</summary>
internal static partial class Charts
{
    private const int Width = 900;
    private const int Height = 520;

    /// <summary>Lines of y against x, one per series, with a legend when there is more than one.</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IReadOnlyList<(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)> series)
    {
        var plot = new Plot();
        foreach (var (name, x, y) in series.Where(s => s.X.Count > 0))
        {
            var line = plot.Add.Scatter(x.ToArray(), y.ToArray());
            line.LegendText = name;
            line.MarkerSize = x.Count > 60 ? 0 : 5;
            line.LineWidth = 2;
        }

        Label(plot, title, xLabel, yLabel);
        if (series.Count > 1)
        {
            plot.ShowLegend(Alignment.UpperRight);
        }

        Save(plot, path);
    }

    /// <summary>
    /// Final rank per adapted module as a heatmap: rows are layers (the first number in a module's
    /// name), columns module types (the last name segment); each cell is labelled with its rank.
    /// </summary>
    public static void RankHeatmap(string path, string title, IReadOnlyDictionary<string, int> ranks)
    {
        var cells = ranks.Select(kv => (Layer: LayerOf(kv.Key), Type: kv.Key[(kv.Key.LastIndexOf('.') + 1)..], Rank: kv.Value)).ToList();
        var layers = cells.Select(c => c.Layer).Distinct().Order().ToList();
        var types = cells.Select(c => c.Type).Distinct().ToList();
        var values = new double[layers.Count, types.Count];
        foreach (var c in cells)
        {
            values[layers.IndexOf(c.Layer), types.IndexOf(c.Type)] = c.Rank;
        }

        var plot = new Plot();
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.FlipVertically = true;
        plot.Add.ColorBar(map).Label = "rank";
        for (var l = 0; l < layers.Count; l++)
        {
            for (var t = 0; t < types.Count; t++)
            {
                var text = plot.Add.Text(((int)values[l, t]).ToString(System.Globalization.CultureInfo.InvariantCulture), t, l);
                text.LabelFontColor = Colors.White;
                text.LabelFontSize = 16;
                text.LabelAlignment = Alignment.MiddleCenter;
            }
        }

        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, types.Count).Select(i => (double)i).ToArray(), types.ToArray());
        plot.Axes.Left.SetTicks(Enumerable.Range(0, layers.Count).Select(i => (double)i).ToArray(), layers.Select(l => l < 0 ? "–" : $"layer {l}").ToArray());
        Label(plot, title, "module type", "layer");
        Save(plot, path);
    }

    /// <summary>The rank of every module over training steps, as a heatmap (rows modules, columns recorded steps).</summary>
    public static void RankEvolution(string path, string title, IReadOnlyList<(int Step, IReadOnlyDictionary<string, int> Ranks)> records)
    {
        var modules = records.SelectMany(r => r.Ranks.Keys).Distinct().ToList();
        var values = new double[modules.Count, records.Count];
        for (var s = 0; s < records.Count; s++)
        {
            for (var m = 0; m < modules.Count; m++)
            {
                values[m, s] = records[s].Ranks.GetValueOrDefault(modules[m]);
            }
        }

        var plot = new Plot();
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.FlipVertically = true;
        plot.Add.ColorBar(map).Label = "rank";
        var stepTicks = Enumerable.Range(0, records.Count).Where(i => records.Count <= 12 || i % (records.Count / 10 + 1) == 0).ToArray();
        plot.Axes.Bottom.SetTicks(stepTicks.Select(i => (double)i).ToArray(), stepTicks.Select(i => records[i].Step.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Left.SetTicks(Enumerable.Range(0, modules.Count).Select(i => (double)i).ToArray(), modules.Select(ShortName).ToArray());
        Label(plot, title, "step (when a rank changed)", "module");
        Save(plot, path, Width, Math.Max(Height, 60 + 22 * modules.Count));
    }

    /// <summary>Metric against adapter parameters, one labelled point per configuration (the budget–metric frontier; labels, no legend).</summary>
    public static void Frontier(string path, string title, string metric, IReadOnlyList<(string Name, double Parameters, double Value)> points)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (var i = 0; i < points.Count; i++)
        {
            var (name, parameters, value) = points[i];
            var marker = plot.Add.Marker(Math.Log10(Math.Max(1, parameters)), value);
            marker.Color = palette.GetColor(i);
            marker.Size = 12;
            var label = plot.Add.Text(name, Math.Log10(Math.Max(1, parameters)), value);
            label.LabelFontSize = 13;
            label.OffsetY = -8;
            label.LabelAlignment = Alignment.LowerCenter;
        }

        var decades = Enumerable.Range(0, 9).Select(d => (double)d).ToArray();
        plot.Axes.Bottom.SetTicks(decades, decades.Select(d => Math.Pow(10, d).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Margins(0.2, 0.25);
        plot.HideLegend();
        Label(plot, title, "adapter parameters (log scale)", metric);
        Save(plot, path);
    }

    /// <summary>
    /// Points with vertical error bars, one colour and legend entry per series (a line joins a series'
    /// points); with <paramref name="logX"/> x is drawn on a log₁₀ scale with 1-2-5 ticks.
    /// </summary>
    public static void ErrorBars(string path, string title, string xLabel, string yLabel, IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y, double Error)> Points)> series, bool logX = false)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var allX = new List<double>();
        for (var i = 0; i < series.Count; i++)
        {
            var (name, points) = series[i];
            if (points.Count == 0)
            {
                continue;
            }

            // Series sharing an x are nudged apart (by 1 % of the x range per series) so that their bars stay readable.
            var range = series.SelectMany(s => s.Points).Select(p => logX ? Math.Log10(Math.Max(1, p.X)) : p.X).DefaultIfEmpty(0).ToList() is var all && all.Max() > all.Min() ? all.Max() - all.Min() : 1;
            var nudge = (i - (series.Count - 1) / 2.0) * 0.01 * range;
            var xs = points.Select(p => (logX ? Math.Log10(Math.Max(1, p.X)) : p.X) + nudge).ToArray();
            var ys = points.Select(p => p.Y).ToArray();
            allX.AddRange(points.Select(p => p.X));
            var bars = plot.Add.ErrorBar(xs, ys, points.Select(p => p.Error).ToArray());
            bars.Color = palette.GetColor(i);
            var line = plot.Add.Scatter(xs, ys);
            line.Color = palette.GetColor(i);
            line.LegendText = name;
            line.MarkerSize = 9;
            line.LineWidth = points.Count > 1 ? 2 : 0;
        }

        if (logX && allX.Count > 0)
        {
            var (low, high) = (Math.Max(1, allX.Min()), Math.Max(1, allX.Max()));
            var ticks = Enumerable.Range((int)Math.Floor(Math.Log10(low)) - 1, (int)Math.Ceiling(Math.Log10(high)) - (int)Math.Floor(Math.Log10(low)) + 2)
                .SelectMany(d => new[] { 1.0, 2, 5 }.Select(m => m * Math.Pow(10, d)))
                .Where(t => t >= low / 2 && t <= high * 2).ToArray();
            plot.Axes.Bottom.SetTicks(ticks.Select(Math.Log10).ToArray(), ticks.Select(t => t.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        }

        plot.Axes.Margins(0.1, 0.15);
        Label(plot, title, xLabel, yLabel);
        plot.ShowLegend(Alignment.LowerRight);
        Save(plot, path);
    }

    private static void Label(Plot plot, string title, string xLabel, string yLabel)
    {
        plot.Title(title, size: 18);
        plot.XLabel(xLabel, size: 15);
        plot.YLabel(yLabel, size: 15);
    }

    private static void Save(Plot plot, string path, int width = Width, int height = Height)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        plot.SavePng(temp, width, height);
        File.Move(temp, path, overwrite: true);
    }

    private static int LayerOf(string module) => LayerNumber().Match(module) is { Success: true } m ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;

    private static string ShortName(string module)
    {
        var layer = LayerOf(module);
        var type = module[(module.LastIndexOf('.') + 1)..];
        return layer < 0 ? type : $"{layer}.{type}";
    }

    [GeneratedRegex(@"\.(\d+)(\.|$)")]
    private static partial Regex LayerNumber();
}
