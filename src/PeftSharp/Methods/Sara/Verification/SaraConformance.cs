using PeftSharp.Conformance;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sara.Verification;

/// <summary>SARA conformance: <c>sara/rank_select</c> — the rank each threshold m gives each weight.</summary>
internal sealed class SaraConformance : IConformanceHandler
{
    public bool Supports(string kind) => kind is "rank_select";

    public void Run(ConformanceCheck check)
    {
        var expected = check.Case.Config["expected_k"]!.AsObject();
        var thresholds = check.Case.Config["thresholds"]!.AsArray().Select(t => t!.GetValue<double>()).ToList();
        foreach (var module in check.Case.Modules)
        {
            using var scope = NewDisposeScope();
            var values = SaraRankSelection.SingularValues(check.Input($"{module.Name}/weight")).to(ScalarType.Float64).data<double>().ToArray();
            foreach (var m in thresholds)
            {
                var key = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{module.Name}@{m}");
                check.Scalar($"k({key})", SaraRankSelection.RankForThreshold(values, m), expected[key]!.GetValue<int>());
            }
        }
    }
}
