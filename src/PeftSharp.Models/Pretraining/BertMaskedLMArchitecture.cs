namespace PeftSharp.Models;

/// <summary>Builds <see cref="BertForMaskedLM"/> models for pretraining (see <see cref="MaskedLMArchitecture.Bert"/>).</summary>
internal sealed class BertMaskedLMArchitecture : MaskedLMArchitecture
{
    public override string Name => "bert";

    private protected override PretrainedModel Build(MaskedLMShape shape) => new BertForMaskedLM(BertConfig.Read(new ConfigJson(new JsonObject
    {
        ["architectures"] = new JsonArray("BertForMaskedLM"), ["model_type"] = "bert", ["vocab_size"] = shape.VocabularySize,
        ["hidden_size"] = shape.Hidden, ["num_hidden_layers"] = shape.Layers, ["num_attention_heads"] = shape.Heads,
        ["intermediate_size"] = shape.IntermediateSize, ["hidden_act"] = "gelu", ["hidden_dropout_prob"] = 0.1, ["attention_probs_dropout_prob"] = 0.1,
        ["max_position_embeddings"] = shape.MaxSequenceLength, ["type_vocab_size"] = 2, ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = shape.PadTokenId,
        ["initializer_range"] = 0.02, ["position_embedding_type"] = "absolute",
    }, "pretrain")));
}
