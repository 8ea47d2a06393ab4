namespace PeftSharp.Models;

/// <summary>Checkpoint names DeBERTa-v2 heads skip or translate.</summary>
internal static class DebertaV2Names
{
    private const string LegacyPrefix = "cls.predictions.";
    private const string CurrentPrefix = "lm_predictions.lm_head.";

    /// <summary>
    /// True for the non-persistent <c>embeddings.position_ids</c> buffer, and for
    /// <c>embeddings.position_embeddings</c> when the model adds no absolute positions (Hugging Face
    /// ignores both on load).
    /// </summary>
    public static bool IsIgnored(string name, DebertaV2Config config) =>
        name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) ||
        (!config.PositionBiasedInput && name.Contains("embeddings.position_embeddings.", StringComparison.Ordinal));

    /// <summary>
    /// Maps a masked-LM head name of either Hugging Face layout (<c>cls.predictions.transform.*</c>,
    /// <c>cls.predictions.bias</c> or <c>lm_predictions.lm_head.*</c>) to the layout of a model built
    /// with <paramref name="legacy"/>; the tied decoder copies map to null. Other names are returned unchanged.
    /// </summary>
    public static string? MapMaskedLMHead(string name, bool legacy)
    {
        string? suffix = null;
        if (name.StartsWith(LegacyPrefix, StringComparison.Ordinal))
        {
            var rest = name[LegacyPrefix.Length..];
            if (rest.StartsWith("decoder.", StringComparison.Ordinal))
            {
                return null;
            }

            suffix = rest.StartsWith("transform.", StringComparison.Ordinal) ? rest["transform.".Length..] : rest;
        }
        else if (name.StartsWith(CurrentPrefix, StringComparison.Ordinal))
        {
            suffix = name[CurrentPrefix.Length..];
        }

        if (suffix is null)
        {
            return name;
        }

        return suffix == "bias"
            ? (legacy ? LegacyPrefix + "bias" : CurrentPrefix + "bias")
            : (legacy ? LegacyPrefix + "transform." + suffix : CurrentPrefix + suffix);
    }

    /// <summary>DeBERTa's name for the projection BERT calls <paramref name="bertName"/> (<c>query</c> → <c>query_proj</c>, …); other names are shared.</summary>
    public static string EquivalentTarget(string bertName) => bertName switch
    {
        "query" or "key" or "value" => bertName + "_proj",
        _ => bertName,
    };
}
