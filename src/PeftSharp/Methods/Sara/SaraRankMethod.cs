using System.Text.Json.Serialization.Metadata;
using PeftSharp.Adapters;

namespace PeftSharp.Methods.Sara;

/// <summary>What SARA and Mo-SARA share: each module's rank from <see cref="SaraRankConfig.RankPattern"/> or the SVD of its weight, and saving every chosen rank.</summary>
/// <typeparam name="TConfig">The method's settings.</typeparam>
public abstract class SaraRankMethod<TConfig> : AdapterMethod<TConfig>
    where TConfig : SaraRankConfig, new()
{
    /// <inheritdoc />
    private protected SaraRankMethod(string name, string peftType, IJsonTypeInfoResolver configJsonResolver)
        : base(name, peftType, configJsonResolver)
    {
    }

    /// <summary>The rank of <paramref name="moduleName"/>: from <see cref="SaraRankConfig.RankPattern"/>, else chosen from the SVD of its weight.</summary>
    public static int RankFor(TConfig config, string moduleName, LinearTarget target) =>
        config.RankPattern.TryGetValue(moduleName, out var k)
            ? k
            : SaraRankSelection.SelectRank(SaraRankSelection.OutByIn(target), config.Threshold, config.KMin, config.KMax, config.RankRule, config.CountPreceding);

    /// <summary>A copy whose <see cref="SaraRankConfig.RankPattern"/> lists every adapted module's rank.</summary>
    protected override AdapterConfig ConfigForSave(TConfig config, string adapterName, IReadOnlyList<AdaptedModule> modules)
    {
        var copy = CopyThroughJson(config);
        copy.RankPattern = modules.ToDictionary(m => m.Name, m => m.Layer.GetPath(adapterName).Rank, StringComparer.Ordinal);
        return copy;
    }
}
