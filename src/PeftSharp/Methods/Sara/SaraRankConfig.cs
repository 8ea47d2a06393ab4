using PeftSharp.Adapters;
using PeftSharp.IO.Json;

namespace PeftSharp.Methods.Sara;

/// <summary>
/// What SARA and Mo-SARA share: each module's rank k is chosen once from the SVD of its pretrained
/// weight (<see cref="SaraRankSelection"/>) and remembered in <see cref="RankPattern"/>, which the
/// saved <c>adapter_config.json</c> holds, so reloading never recomputes an SVD.
/// </summary>
public abstract class SaraRankConfig : AdapterConfig
{
    /// <summary>m: the proportion of the singular values' sum the first k values must reach (default 0.5).</summary>
    public double Threshold { get; set; } = 0.5;

    /// <summary>Smallest rank (default 1).</summary>
    [Rank] public int KMin { get; set; } = 1;

    /// <summary>Largest rank (null: no cap beyond min(out, in)).</summary>
    public int? KMax { get; set; }

    /// <summary>Σ ≥ m·total (default) or Σ &gt; m·total [R].</summary>
    [JsonConverter(typeof(SnakeCaseEnumConverter<SaraRankRule>))]
    public SaraRankRule RankRule { get; set; } = SaraRankRule.Reaches;

    /// <summary>Count the values before the one that reaches the threshold (j − 1) instead of j [R].</summary>
    public bool CountPreceding { get; set; }

    /// <summary>Chosen rank per module (full module name → k); modules not listed get an SVD at creation.</summary>
    public Dictionary<string, int> RankPattern { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Dropout on the adapter input.</summary>
    [Dropout] public double LoraDropout { get; set; }

    /// <inheritdoc />
    protected internal override void CheckFields(ConfigValidator check)
    {
        base.CheckFields(check);
        check.Require(Threshold is > 0 and <= 1, nameof(Threshold), "threshold", "a number in (0, 1]", Threshold);
        check.Require(KMax is null || KMax >= KMin, nameof(KMax), "k_max", $"null or an integer ≥ k_min = {KMin}", KMax);
        foreach (var (key, rank) in RankPattern)
        {
            check.Rank(rank, $"{nameof(RankPattern)}['{key}']", $"rank_pattern.{key}");
        }
    }
}
