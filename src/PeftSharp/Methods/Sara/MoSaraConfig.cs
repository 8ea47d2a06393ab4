using PeftSharp.Adapters;
using PeftSharp.IO.Json;

namespace PeftSharp.Methods.Sara;

/// <summary>
/// Mo-SARA (Gu et al., arXiv 2408.03290): per module the rank k of <see cref="SaraRankConfig"/>,
/// frozen bases, and only E sets of k singular values plus a small router trained
/// (<see cref="MoSaraPath"/>). No official code exists; the [R] choices are options documented in
/// docs/methods/sara.md. The frozen bases are saved with the adapter (they are not recomputed on load).
/// </summary>
public sealed class MoSaraConfig : SaraRankConfig
{
    /// <summary>E, the number of singular-value sets (default 4).</summary>
    [Rank] public int NumSets { get; set; } = 4;

    /// <summary>The bases (default <see cref="MoSaraBasis.Svd"/>).</summary>
    [JsonConverter(typeof(SnakeCaseEnumConverter<MoSaraBasis>))]
    public MoSaraBasis Basis { get; set; } = MoSaraBasis.Svd;

    /// <summary>Route on the raw input x instead of the projected V_kᵀ x (default false).</summary>
    public bool RouteRawInput { get; set; }

    /// <summary>Train an output vector v (init 1) as well (default false).</summary>
    public bool OutputVector { get; set; }

    /// <summary>Seed of random bases.</summary>
    public int BasisSeed { get; set; }
}
