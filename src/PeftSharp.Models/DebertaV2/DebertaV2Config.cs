using PeftSharp.IO.Json;

namespace PeftSharp.Models;

/// <summary>
/// DeBERTa-v2 and DeBERTa-v3 (<c>model_type</c> <c>deberta-v2</c>): disentangled attention over
/// (optionally log-bucketed) relative positions, read through the declared contract
/// <see cref="DebertaV2ConfigFile"/>. Options PeftSharp does not implement are refused by name.
/// </summary>
public sealed class DebertaV2Config : ModelConfig
{
    /// <summary>Reads and validates the fields from parsed JSON.</summary>
    /// <exception cref="ConfigFormatException">A field has the wrong type, an invalid value or an unsupported setting.</exception>
    public DebertaV2Config(ConfigJson json) : base(json)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (ModelType != "deberta-v2")
        {
            throw json.Error("model_type", $"'{ModelType}' is not deberta-v2");
        }

        var file = Deserialize(json);
        VocabSize = Positive(json, "vocab_size", file.VocabSize ?? 128100);
        HiddenSize = Positive(json, "hidden_size", file.HiddenSize ?? 1536);
        NumHiddenLayers = Positive(json, "num_hidden_layers", file.NumHiddenLayers ?? 24);
        NumAttentionHeads = Positive(json, "num_attention_heads", file.NumAttentionHeads ?? 24);
        IntermediateSize = Positive(json, "intermediate_size", file.IntermediateSize ?? 6144);
        HiddenAct = file.HiddenAct ?? "gelu";
        HiddenDropout = Probability(json, "hidden_dropout_prob", file.HiddenDropoutProb ?? 0.1);
        AttentionDropout = Probability(json, "attention_probs_dropout_prob", file.AttentionProbsDropoutProb ?? 0.1);
        MaxPositionEmbeddings = Positive(json, "max_position_embeddings", file.MaxPositionEmbeddings ?? 512);
        TypeVocabSize = file.TypeVocabSize ?? 0;
        LayerNormEps = file.LayerNormEps ?? 1e-7;
        RelativeAttention = file.RelativeAttention ?? false;
        PadTokenId = file.PadTokenId ?? 0;
        PositionBiasedInput = file.PositionBiasedInput ?? true;
        ShareAttKey = file.ShareAttKey ?? false;
        EmbeddingSize = Positive(json, "embedding_size", file.EmbeddingSize ?? HiddenSize);
        PoolerHiddenAct = file.PoolerHiddenAct ?? "gelu";
        PoolerDropout = Probability(json, "pooler_dropout", file.PoolerDropout ?? 0.0);
        ClassifierDropout = Probability(json, "cls_dropout", file.ClsDropout ?? HiddenDropout);
        Legacy = file.Legacy ?? true;
        ConvKernelSize = file.ConvKernelSize ?? 0;
        ConvGroups = file.ConvGroups ?? 1;
        ConvAct = file.ConvAct ?? "tanh";
        PosAttType = ParsePosAttType(json, file.PosAttType);

        if (TypeVocabSize < 0)
        {
            throw json.Error("type_vocab_size", $"must be 0 (no token types) or positive, got {TypeVocabSize}");
        }

        if (PadTokenId < 0 || PadTokenId >= VocabSize)
        {
            throw json.Error("pad_token_id", $"{PadTokenId} is outside the vocabulary of {VocabSize}");
        }

        if (LayerNormEps <= 0)
        {
            throw json.Error("layer_norm_eps", $"must be positive, got {LayerNormEps}");
        }

        if (HiddenSize % NumAttentionHeads != 0)
        {
            throw json.Error("num_attention_heads", $"hidden_size {HiddenSize} is not a multiple of {NumAttentionHeads} heads");
        }

        if (file.AttentionHeadSize is { } headSize && headSize != HiddenSize / NumAttentionHeads)
        {
            throw json.Error("attention_head_size", $"{headSize} is not supported: heads × attention_head_size must equal hidden_size {HiddenSize} (attention.output.dense maps hidden_size to hidden_size)");
        }

        if ((file.PoolerHiddenSize ?? HiddenSize) != HiddenSize)
        {
            throw json.Error("pooler_hidden_size", $"{file.PoolerHiddenSize} is not supported: the classifier reads hidden_size {HiddenSize} features from the pooler");
        }

        if (ConvKernelSize < 0 || (ConvKernelSize > 0 && ConvKernelSize % 2 == 0))
        {
            throw json.Error("conv_kernel_size", $"{ConvKernelSize} is not supported (0 for none, or an odd size that keeps the sequence length)");
        }

        if (ConvGroups <= 0 || HiddenSize % ConvGroups != 0)
        {
            throw json.Error("conv_groups", $"{ConvGroups} must be positive and divide hidden_size {HiddenSize}");
        }

        if (!Legacy && EmbeddingSize != HiddenSize)
        {
            throw json.Error("legacy", $"false (the lm_predictions head) needs embedding_size = hidden_size, got {EmbeddingSize} ≠ {HiddenSize}");
        }

        Activations.Check(HiddenAct, json, "hidden_act");
        Activations.Check(PoolerHiddenAct, json, "pooler_hidden_act");
        if (ConvKernelSize > 0)
        {
            Activations.Check(ConvAct, json, "conv_act");
        }

        var norms = (file.NormRelEbd ?? "none").ToLowerInvariant().Split('|').Select(s => s.Trim()).ToList();
        if (norms.Any(n => n is not ("none" or "layer_norm")))
        {
            throw json.Error("norm_rel_ebd", $"'{file.NormRelEbd}' is not supported (none or layer_norm)");
        }

        NormRelativeEmbeddings = norms.Contains("layer_norm");
        if (RelativeAttention)
        {
            var maxRelative = file.MaxRelativePositions ?? -1;
            MaxRelativePositions = maxRelative < 1 ? MaxPositionEmbeddings : maxRelative;
            PositionBuckets = file.PositionBuckets ?? -1;
            if (PositionBuckets > 0 && PositionBuckets < 2)
            {
                throw json.Error("position_buckets", $"{PositionBuckets} is too small for log buckets (at least 2, or ≤ 0 for none)");
            }
        }
    }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>Hidden size.</summary>
    public int HiddenSize { get; }

    /// <summary>Width of the embedding tables (<c>embedding_size</c>; projected to <see cref="HiddenSize"/> by <c>embed_proj</c> when different).</summary>
    public int EmbeddingSize { get; }

    /// <summary>Number of layers.</summary>
    public int NumHiddenLayers { get; }

    /// <summary>Attention heads.</summary>
    public int NumAttentionHeads { get; }

    /// <summary>Feed-forward size.</summary>
    public int IntermediateSize { get; }

    /// <summary>Feed-forward (and masked-LM transform) activation.</summary>
    public string HiddenAct { get; }

    /// <summary>Dropout on hidden states and on the relative embeddings.</summary>
    public double HiddenDropout { get; }

    /// <summary>Dropout on attention probabilities.</summary>
    public double AttentionDropout { get; }

    /// <summary>Absolute position table size (and the relative span when <c>max_relative_positions</c> &lt; 1).</summary>
    public int MaxPositionEmbeddings { get; }

    /// <summary>Token type table size; 0 means the model has no token types.</summary>
    public int TypeVocabSize { get; }

    /// <summary>LayerNorm epsilon.</summary>
    public double LayerNormEps { get; }

    /// <summary>Padding token id.</summary>
    public int PadTokenId { get; }

    /// <summary>True when absolute position embeddings are added to the input (<c>position_biased_input</c>).</summary>
    public bool PositionBiasedInput { get; }

    /// <summary>True for disentangled attention over relative positions (<c>relative_attention</c>).</summary>
    public bool RelativeAttention { get; }

    /// <summary>The relative distance limit (<c>max_relative_positions</c>, −1 resolved to <see cref="MaxPositionEmbeddings"/>); 0 without relative attention.</summary>
    public int MaxRelativePositions { get; }

    /// <summary>Log-bucket count (<c>position_buckets</c>); ≤ 0 means raw distances.</summary>
    public int PositionBuckets { get; }

    /// <summary>The attention span: rows of relative embeddings per direction (buckets when bucketed, else <see cref="MaxRelativePositions"/>).</summary>
    public int AttentionSpan => PositionBuckets > 0 ? PositionBuckets : MaxRelativePositions;

    /// <summary>True when content-to-position terms are used (<c>c2p</c> in <c>pos_att_type</c>).</summary>
    public bool ContentToPosition => PosAttType.Contains("c2p");

    /// <summary>True when position-to-content terms are used (<c>p2c</c> in <c>pos_att_type</c>).</summary>
    public bool PositionToContent => PosAttType.Contains("p2c");

    /// <summary>The relative attention terms (<c>c2p</c>, <c>p2c</c>), from a list or a <c>"p2c|c2p"</c> string.</summary>
    public IReadOnlyList<string> PosAttType { get; }

    /// <summary>True when the relative embeddings are projected by <c>query_proj</c>/<c>key_proj</c> (<c>share_att_key</c>), else by <c>pos_query_proj</c>/<c>pos_key_proj</c>.</summary>
    public bool ShareAttKey { get; }

    /// <summary>True when the relative embeddings pass through the encoder's <c>LayerNorm</c> (<c>norm_rel_ebd</c> <c>layer_norm</c>).</summary>
    public bool NormRelativeEmbeddings { get; }

    /// <summary>The pooler's activation.</summary>
    public string PoolerHiddenAct { get; }

    /// <summary>Dropout before the pooler's dense layer.</summary>
    public double PoolerDropout { get; }

    /// <summary>Dropout before the classifier (<c>cls_dropout</c>, else the hidden dropout).</summary>
    public double ClassifierDropout { get; }

    /// <summary>True for the <c>cls.predictions</c> masked-LM head naming; false for <c>lm_predictions.lm_head</c>.</summary>
    public bool Legacy { get; }

    /// <summary>Kernel of the convolution after the first layer (<c>conv_kernel_size</c>); 0 for none.</summary>
    public int ConvKernelSize { get; }

    /// <summary>Groups of that convolution.</summary>
    public int ConvGroups { get; }

    /// <summary>Activation of that convolution.</summary>
    public string ConvAct { get; }

    /// <summary>
    /// The scale divisor's factor: 1 + the number of terms in <c>pos_att_type</c> (counted even without
    /// <c>relative_attention</c>, as Hugging Face does).
    /// </summary>
    public int ScaleFactor => 1 + (ContentToPosition ? 1 : 0) + (PositionToContent ? 1 : 0);

    /// <summary>Reads a DeBERTa-v2 config from a directory or file.</summary>
    public static DebertaV2Config Load(string path) => new(LoadJson(path));

    private static DebertaV2ConfigFile Deserialize(ConfigJson json)
    {
        try
        {
            return json.Root.Deserialize<DebertaV2ConfigFile>(ConfigContract.ReflectionOptions) ?? throw json.Error("model_type", "the config is null");
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;
            throw new ConfigFormatException(json.Path, field, $"has the wrong type for a deberta-v2 config: {JsonErrorText.Problem(e)}", e);
        }
    }

    private static List<string> ParsePosAttType(ConfigJson json, JsonElement? element)
    {
        List<string> items;
        switch (element)
        {
            case null:
            case { ValueKind: JsonValueKind.Null }:
                return [];
            case { ValueKind: JsonValueKind.String } s:
                items = s.GetString()!.ToLowerInvariant().Split('|').Select(x => x.Trim()).Where(x => x.Length > 0).ToList();
                break;
            case { ValueKind: JsonValueKind.Array } a:
                items = a.EnumerateArray().Select((x, i) => x.ValueKind == JsonValueKind.String ? x.GetString()!.Trim().ToLowerInvariant() : throw json.Error($"pos_att_type[{i}]", "expected a string")).ToList();
                break;
            default:
                throw json.Error("pos_att_type", "expected a list of strings or a \"p2c|c2p\" string");
        }

        foreach (var item in items)
        {
            if (item is not ("c2p" or "p2c"))
            {
                throw json.Error("pos_att_type", $"'{item}' is not supported (c2p, p2c)");
            }
        }

        return items.Distinct().ToList();
    }

    private static int Positive(ConfigJson json, string field, int value) =>
        value > 0 ? value : throw json.Error(field, $"must be positive, got {value}");

    private static double Probability(ConfigJson json, string field, double value) =>
        value is >= 0 and < 1 ? value : throw json.Error(field, $"must lie in [0, 1), got {value}");
}
