using PeftSharp.IO.Json;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// The <c>config.json</c> fields of the decoder families as declared by transformers
/// (<c>LlamaConfig</c>, <c>MistralConfig</c>, <c>Qwen2Config</c>, <c>Qwen3Config</c>, <c>Phi3Config</c>);
/// null means absent (the fields every family shares are in <see cref="TransformerConfigFile"/>).
/// <see cref="DecoderConfig"/> applies the per-family defaults and checks. Read with <see cref="Options"/>.
/// </summary>
internal sealed record DecoderConfigFile : TransformerConfigFile
{
    /// <summary>
    /// The settings the decoder families' files (<c>config.json</c>, <c>generation_config.json</c>) are read
    /// with: snake-case names, and every token id field an integer or a list of integers.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = ConfigContract.CreateReflectionOptions(new TokenIdListConverter());

    public int? NumKeyValueHeads { get; init; }

    public int? HeadDim { get; init; }

    public double? RmsNormEps { get; init; }

    public double? RopeTheta { get; init; }

    public RopeParametersFile? RopeScaling { get; init; }

    public RopeParametersFile? RopeParameters { get; init; }

    public double? PartialRotaryFactor { get; init; }

    public double? AttentionDropout { get; init; }

    public bool? AttentionBias { get; init; }

    public bool? MlpBias { get; init; }

    public bool? TieWordEmbeddings { get; init; }

    public int? SlidingWindow { get; init; }

    public bool? UseSlidingWindow { get; init; }

    public int? MaxWindowLayers { get; init; }

    public IReadOnlyList<string>? LayerTypes { get; init; }

    public IReadOnlyList<int>? BosTokenId { get; init; }

    public IReadOnlyList<int>? EosTokenId { get; init; }

    public IReadOnlyList<int>? PadTokenId { get; init; }

    public System.Text.Json.JsonElement? QuantizationConfig { get; init; }
}
