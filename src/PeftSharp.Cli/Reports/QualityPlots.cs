using PeftSharp.Benchmarks;

namespace PeftSharp.Cli.Reports;

/// <summary>The quality protocol's plots: one PNG per claim and task (points with 95 % error bars), and the budget–score frontier.</summary>
internal static class QualityPlots
{
    /// <summary>Writes every claim plot of <paramref name="report"/> and <c>frontier.png</c> into <paramref name="folder"/>; returns the file names written.</summary>
    public static List<string> Write(string folder, QualityReport report)
    {
        var written = new List<string>();
        foreach (var plot in report.Plots)
        {
            Charts.ErrorBars(Path.Combine(folder, plot.FileName), plot.Title, plot.XLabel, plot.YLabel,
                [.. plot.Series.Select(s => (s.Name, (IReadOnlyList<(double, double, double)>)s.Points.Select(p => (p.X, p.Value.Mean, p.Value.HalfWidth)).ToList()))], plot.LogX);
            written.Add(plot.FileName);
        }

        var means = report.Runs.GroupBy(r => (r.Task, r.Configuration)).Select(g => ($"{g.Key.Configuration} ({g.Key.Task})", (double)g.First().PublishedParameters, g.Average(r => r.Score))).ToList();
        if (means.Count > 0)
        {
            Charts.Frontier(Path.Combine(folder, "frontier.png"), "Test score (mean over seeds) vs published adapter parameters", "score (points)", means);
            written.Add("frontier.png");
        }

        return written;
    }
}
