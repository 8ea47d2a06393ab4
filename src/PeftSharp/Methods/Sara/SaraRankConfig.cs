using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;

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
    public int KMin { get; set; } = 1;

    /// <summary>Largest rank (null: no cap beyond min(out, in)).</summary>
    public int? KMax { get; set; }

    /// <summary>Σ ≥ m·total (default) or Σ &gt; m·total [R].</summary>
    public SaraRankRule RankRule { get; set; } = SaraRankRule.Reaches;

    /// <summary>Count the values before the one that reaches the threshold (j − 1) instead of j [R].</summary>
    public bool CountPreceding { get; set; }

    /// <summary>Chosen rank per module (full module name → k); modules not listed get an SVD at creation.</summary>
    public Dictionary<string, int> RankPattern { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The rank of <paramref name="moduleName"/>: from <see cref="RankPattern"/>, else chosen from the SVD of its weight.</summary>
    public int RankFor(string moduleName, LinearTarget target) =>
        RankPattern.TryGetValue(moduleName, out var k) ? k : SaraRankSelection.SelectRank(SaraRankSelection.OutByIn(target), Threshold, KMin, KMax, RankRule, CountPreceding);

    /// <summary>A copy whose <see cref="RankPattern"/> lists every adapted module's rank.</summary>
    public override AdapterConfig ConfigForSave(string adapterName, IReadOnlyList<AdaptedModule> modules)
    {
        var copy = (SaraRankConfig)CopyThroughJson();
        copy.RankPattern = modules.ToDictionary(m => m.Name, m => m.Layer.GetPath(adapterName).Rank, StringComparer.Ordinal);
        return copy;
    }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (Threshold is <= 0 or > 1 || double.IsNaN(Threshold))
        {
            throw new PeftConfigurationException($"{GetType().Name}.Threshold (m) must be in (0, 1], got {Threshold}");
        }

        if (KMin < 1 || KMax is < 1 || KMax < KMin)
        {
            throw new PeftConfigurationException($"{GetType().Name}: need 1 ≤ KMin ≤ KMax, got KMin {KMin}, KMax {KMax?.ToString() ?? "none"}");
        }

        if (RankPattern.FirstOrDefault(kv => kv.Value < 1) is { Key: not null } bad)
        {
            throw new PeftConfigurationException($"{GetType().Name}.RankPattern['{bad.Key}'] must be ≥ 1, got {bad.Value}");
        }
    }

    /// <inheritdoc />
    public override void WriteJson(JsonObject json)
    {
        base.WriteJson(json);
        json["threshold"] = Threshold;
        json["k_min"] = KMin;
        json["k_max"] = KMax;
        json["rank_rule"] = RankRule == SaraRankRule.Reaches ? "reaches" : "exceeds";
        json["count_preceding"] = CountPreceding;
        json["rank_pattern"] = new JsonObject(RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
    }

    /// <inheritdoc />
    public override void ReadJson(ConfigJson json, ICollection<string> warnings)
    {
        base.ReadJson(json, warnings);
        Threshold = json.Double("threshold", 0.5);
        KMin = json.Int("k_min", 1);
        KMax = json.Has("k_max") ? json.Int("k_max", 0) : null;
        RankRule = json.String("rank_rule", "reaches") switch
        {
            "reaches" => SaraRankRule.Reaches,
            "exceeds" => SaraRankRule.Exceeds,
            var other => throw json.Error("rank_rule", $"expected \"reaches\" or \"exceeds\", got \"{other}\""),
        };
        CountPreceding = json.Bool("count_preceding", false);
        RankPattern = new Dictionary<string, int>(json.IntMap("rank_pattern"), StringComparer.Ordinal);
    }
}
