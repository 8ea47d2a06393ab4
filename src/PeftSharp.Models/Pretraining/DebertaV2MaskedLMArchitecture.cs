namespace PeftSharp.Models;

/// <summary>
/// Builds DeBERTa-v3 style <see cref="DebertaV2ForMaskedLM"/> models for pretraining (see
/// <see cref="MaskedLMArchitecture.Deberta"/>): relative attention over log buckets (half the
/// sequence length, as DeBERTa-v3's 256 for 512), <c>share_att_key</c>, <c>p2c|c2p</c>,
/// <c>norm_rel_ebd</c> <c>layer_norm</c>, <c>position_biased_input</c> false, <c>type_vocab_size</c> 0.
/// </summary>
internal sealed class DebertaV2MaskedLMArchitecture : MaskedLMArchitecture
{
    public override string Name => "deberta";

    private protected override PretrainedModel Build(MaskedLMShape shape) => new DebertaV2ForMaskedLM(new DebertaV2Config(new ConfigJson(new JsonObject
    {
        ["architectures"] = new JsonArray("DebertaV2ForMaskedLM"), ["model_type"] = "deberta-v2", ["vocab_size"] = shape.VocabularySize,
        ["hidden_size"] = shape.Hidden, ["num_hidden_layers"] = shape.Layers, ["num_attention_heads"] = shape.Heads,
        ["intermediate_size"] = shape.IntermediateSize, ["hidden_act"] = "gelu", ["hidden_dropout_prob"] = 0.1, ["attention_probs_dropout_prob"] = 0.1,
        ["max_position_embeddings"] = shape.MaxSequenceLength, ["type_vocab_size"] = 0, ["layer_norm_eps"] = 1e-7, ["pad_token_id"] = shape.PadTokenId,
        ["initializer_range"] = 0.02, ["relative_attention"] = true, ["max_relative_positions"] = -1,
        ["position_buckets"] = Math.Max(2, shape.MaxSequenceLength / 2), ["position_biased_input"] = false,
        ["pos_att_type"] = new JsonArray("p2c", "c2p"), ["share_att_key"] = true, ["norm_rel_ebd"] = "layer_norm", ["legacy"] = true,
    }, "pretrain")));
}
