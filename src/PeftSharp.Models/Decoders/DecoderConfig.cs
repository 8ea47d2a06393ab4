namespace PeftSharp.Models.Decoders;

/// <summary>
/// The <c>config.json</c> of a decoder LLM (<c>llama</c>, <c>mistral</c>, <c>qwen2</c>, <c>qwen3</c>,
/// <c>phi3</c>) with transformers' per-family defaults applied. Fields PeftSharp cannot honour
/// (RoPE types such as <c>yarn</c> or <c>longrope</c>, quantized checkpoints, unknown activations)
/// are errors naming the file and field.
/// </summary>
public sealed class DecoderConfig : ModelConfig
{
    /// <summary>Reads the fields from parsed JSON.</summary>
    /// <exception cref="ConfigFormatException">A field is malformed or not supported; the message names the file and field.</exception>
    public DecoderConfig(ConfigJson json) : base(json)
    {
        Family = ModelType switch
        {
            "llama" => DecoderFamily.Llama,
            "mistral" => DecoderFamily.Mistral,
            "qwen2" => DecoderFamily.Qwen2,
            "qwen3" => DecoderFamily.Qwen3,
            "phi3" => DecoderFamily.Phi3,
            _ => throw json.Error("model_type", $"'{ModelType}' is not a supported decoder (llama, mistral, qwen2, qwen3, phi3)"),
        };

        DecoderConfigFile file;
        try
        {
            file = json.Root.Deserialize<DecoderConfigFile>(DecoderConfigFile.Options) ?? throw json.Error("model_type", "the config is empty");
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? null : e.Path.TrimStart('$', '.');
            throw new ConfigFormatException(json.Path, field, $"malformed: {e.Message.Split(" Path:")[0]}", e);
        }

        if (file.QuantizationConfig is { ValueKind: not JsonValueKind.Null })
        {
            throw json.Error("quantization_config", "quantized checkpoints are not supported");
        }

        VocabSize = Positive(json, "vocab_size", file.VocabSize, 32000);
        HiddenSize = Positive(json, "hidden_size", file.HiddenSize, 4096);
        IntermediateSize = Positive(json, "intermediate_size", file.IntermediateSize, 11008);
        NumHiddenLayers = Positive(json, "num_hidden_layers", file.NumHiddenLayers, 32);
        NumAttentionHeads = Positive(json, "num_attention_heads", file.NumAttentionHeads, 32);
        NumKeyValueHeads = Positive(json, "num_key_value_heads", file.NumKeyValueHeads, NumAttentionHeads);
        if (NumAttentionHeads % NumKeyValueHeads != 0)
        {
            throw json.Error("num_key_value_heads", $"{NumKeyValueHeads} does not divide num_attention_heads {NumAttentionHeads}");
        }

        if (file.HeadDim is null && HiddenSize % NumAttentionHeads != 0)
        {
            throw json.Error("num_attention_heads", $"hidden_size {HiddenSize} is not a multiple of {NumAttentionHeads} heads and head_dim is not given");
        }

        HeadDim = Positive(json, "head_dim", file.HeadDim, HiddenSize / NumAttentionHeads);
        HiddenAct = file.HiddenAct ?? "silu";
        Activations.Check(HiddenAct, json, "hidden_act");
        MaxPositionEmbeddings = Positive(json, "max_position_embeddings", file.MaxPositionEmbeddings, 2048);
        RmsNormEps = file.RmsNormEps ?? 1e-6;
        if (RmsNormEps <= 0)
        {
            throw json.Error("rms_norm_eps", $"must be positive, got {RmsNormEps}");
        }

        Rope = ReadRope(json, file, out var rotaryFactor);
        RotaryDim = (int)(HeadDim * rotaryFactor);
        if (RotaryDim <= 0 || RotaryDim % 2 != 0 || RotaryDim > HeadDim)
        {
            throw json.Error("partial_rotary_factor", $"{rotaryFactor} gives {RotaryDim} rotary dimensions of head_dim {HeadDim}; need an even number in 2…head_dim");
        }

        AttentionDropout = file.AttentionDropout ?? 0.0;
        if (AttentionDropout is not (>= 0 and < 1))
        {
            throw json.Error("attention_dropout", $"must lie in [0, 1), got {AttentionDropout}");
        }

        // Bias flags as each transformers class reads them.
        var attentionBias = file.AttentionBias ?? false;
        (QkvBias, OutputBias) = Family switch
        {
            DecoderFamily.Llama or DecoderFamily.Qwen3 => (attentionBias, attentionBias),
            DecoderFamily.Qwen2 => (true, false),
            _ => (false, false),
        };
        MlpBias = Family == DecoderFamily.Llama && (file.MlpBias ?? false);
        TieWordEmbeddings = file.TieWordEmbeddings ?? false;
        SlidingWindows = ReadSlidingWindows(json, file);
        EosTokenIds = file.EosTokenId ?? [];
        BosTokenId = file.BosTokenId is { Count: > 0 } bos ? bos[0] : null;
        PadTokenId = file.PadTokenId is { Count: > 0 } pad ? pad[0] : null;
    }

    /// <summary>The architecture family (from <c>model_type</c>).</summary>
    public DecoderFamily Family { get; }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>Hidden size.</summary>
    public int HiddenSize { get; }

    /// <summary>Feed-forward size.</summary>
    public int IntermediateSize { get; }

    /// <summary>Number of layers.</summary>
    public int NumHiddenLayers { get; }

    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; }

    /// <summary>Key/value heads (grouped-query attention when fewer than the query heads).</summary>
    public int NumKeyValueHeads { get; }

    /// <summary>Per-head width (<c>head_dim</c>, default hidden/heads).</summary>
    public int HeadDim { get; }

    /// <summary>Rotated dimensions per head (<c>head_dim · partial_rotary_factor</c>).</summary>
    public int RotaryDim { get; }

    /// <summary>MLP activation (<c>silu</c> for every supported family's checkpoints).</summary>
    public string HiddenAct { get; }

    /// <summary>Context length the model was configured for.</summary>
    public int MaxPositionEmbeddings { get; }

    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; }

    /// <summary>Rotary embedding parameters.</summary>
    public RopeSettings Rope { get; }

    /// <summary>Dropout on the attention probabilities in training (<c>attention_dropout</c>, default 0).</summary>
    public double AttentionDropout { get; }

    /// <summary>True when q/k/v projections have a bias.</summary>
    public bool QkvBias { get; }

    /// <summary>True when the attention output projection has a bias.</summary>
    public bool OutputBias { get; }

    /// <summary>True when the MLP projections have a bias.</summary>
    public bool MlpBias { get; }

    /// <summary>True when the output head reuses the input embedding table.</summary>
    public bool TieWordEmbeddings { get; }

    /// <summary>Per layer: the sliding attention window W (query i sees keys i−W &lt; j ≤ i), or null for full attention.</summary>
    public IReadOnlyList<int?> SlidingWindows { get; }

    /// <summary>End-of-sequence ids (<c>eos_token_id</c>, an integer or a list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>Beginning-of-sequence id, if any.</summary>
    public int? BosTokenId { get; }

    /// <summary>Padding id, if any.</summary>
    public int? PadTokenId { get; }

    /// <summary>True for the fused <c>qkv_proj</c>/<c>gate_up_proj</c> layout (Phi-3).</summary>
    public bool FusedProjections => Family == DecoderFamily.Phi3;

    /// <summary>True when q and k are RMS-normalised per head before RoPE (Qwen3).</summary>
    public bool QkNorm => Family == DecoderFamily.Qwen3;

    /// <summary>The Hugging Face class name of the family's causal LM.</summary>
    public string ArchitectureName => Family switch
    {
        DecoderFamily.Llama => "LlamaForCausalLM",
        DecoderFamily.Mistral => "MistralForCausalLM",
        DecoderFamily.Qwen2 => "Qwen2ForCausalLM",
        DecoderFamily.Qwen3 => "Qwen3ForCausalLM",
        _ => "Phi3ForCausalLM",
    };

    /// <summary>Reads a decoder config from a directory or file.</summary>
    public static DecoderConfig Load(string path) => new(LoadJson(path));

    private static int Positive(ConfigJson json, string field, int? value, int fallback)
    {
        var result = value ?? fallback;
        return result > 0 ? result : throw json.Error(field, $"must be positive, got {result}");
    }

    private RopeSettings ReadRope(ConfigJson json, DecoderConfigFile file, out double rotaryFactor)
    {
        var (parameters, field) = file.RopeParameters is not null ? (file.RopeParameters, "rope_parameters") : (file.RopeScaling, "rope_scaling");
        var theta = parameters?.RopeTheta ?? file.RopeTheta ?? 10000.0;
        if (!(theta > 1))
        {
            throw json.Error(parameters?.RopeTheta is null ? "rope_theta" : $"{field}.rope_theta", $"must be greater than 1, got {theta}");
        }

        rotaryFactor = parameters?.PartialRotaryFactor ?? file.PartialRotaryFactor ?? 1.0;
        if (parameters is null)
        {
            return new RopeSettings(RopeKind.Default, theta);
        }

        var typeField = parameters.RopeType is not null ? $"{field}.rope_type" : $"{field}.type";
        var type = parameters.RopeType ?? parameters.Type ?? "default";
        if (parameters.AttentionFactor is { } attentionFactor && attentionFactor != 1.0)
        {
            throw json.Error($"{field}.attention_factor", $"{attentionFactor} is not supported (only 1)");
        }

        double Factor()
        {
            var factor = parameters.Factor ?? throw json.Error($"{field}.factor", $"missing: rope type '{type}' needs a factor");
            return factor >= 1 ? factor : throw json.Error($"{field}.factor", $"must be at least 1, got {factor}");
        }

        switch (type)
        {
            case "default":
                return new RopeSettings(RopeKind.Default, theta);
            case "linear":
                return new RopeSettings(RopeKind.Linear, theta, Factor());
            case "dynamic":
                return new RopeSettings(RopeKind.Dynamic, theta, Factor(), OriginalMaxPositions: MaxPositionEmbeddings);
            case "llama3":
                var low = parameters.LowFreqFactor ?? throw json.Error($"{field}.low_freq_factor", "missing: llama3 RoPE needs it");
                var high = parameters.HighFreqFactor ?? throw json.Error($"{field}.high_freq_factor", "missing: llama3 RoPE needs it");
                var original = parameters.OriginalMaxPositionEmbeddings ?? throw json.Error($"{field}.original_max_position_embeddings", "missing: llama3 RoPE needs it");
                if (!(high > low && low > 0) || original <= 0)
                {
                    throw json.Error($"{field}.high_freq_factor", $"llama3 RoPE needs 0 < low_freq_factor < high_freq_factor and a positive original_max_position_embeddings (got {low}, {high}, {original})");
                }

                return new RopeSettings(RopeKind.Llama3, theta, Factor(), low, high, original);
            default:
                throw json.Error(typeField, $"RoPE type '{type}' is not supported (default, linear, dynamic, llama3)");
        }
    }

    private IReadOnlyList<int?> ReadSlidingWindows(ConfigJson json, DecoderConfigFile file)
    {
        int? window = Family switch
        {
            DecoderFamily.Mistral or DecoderFamily.Phi3 => file.SlidingWindow,
            DecoderFamily.Qwen2 or DecoderFamily.Qwen3 when file.UseSlidingWindow == true => file.SlidingWindow,
            _ => null,
        };
        if (window is <= 0)
        {
            throw json.Error("sliding_window", $"must be positive, got {window}");
        }

        if (file.LayerTypes is { } types)
        {
            if (types.Count != NumHiddenLayers)
            {
                throw json.Error("layer_types", $"has {types.Count} entries for {NumHiddenLayers} layers");
            }

            return types.Select((type, i) => type switch
            {
                "full_attention" => (int?)null,
                "sliding_attention" => window,
                _ => throw json.Error($"layer_types[{i}]", $"'{type}' is not supported (full_attention, sliding_attention)"),
            }).ToList();
        }

        // Qwen2/Qwen3 keep full attention in the first max_window_layers layers.
        var firstSliding = Family is DecoderFamily.Qwen2 or DecoderFamily.Qwen3 ? file.MaxWindowLayers ?? 28 : 0;
        return new LayerWindows(NumHiddenLayers, firstSliding, window);
    }
}
