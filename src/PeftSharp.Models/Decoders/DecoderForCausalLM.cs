using PeftSharp.Runtime;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// A decoder LLM with a language-modelling head: <c>LlamaForCausalLM</c>, <c>MistralForCausalLM</c>,
/// <c>Qwen2ForCausalLM</c>, <c>Qwen3ForCausalLM</c> or <c>Phi3ForCausalLM</c>, chosen by the
/// configuration, with Hugging Face parameter names (<c>model.layers.N.self_attn.q_proj.weight</c>, ...).
/// With tied embeddings there is no <c>lm_head</c> module: the logits use <c>model.embed_tokens.weight</c> itself.
/// </summary>
public sealed class DecoderForCausalLM : PretrainedModel
{
    private readonly DecoderModel model;
    private readonly nn.Module<Tensor, Tensor>? lm_head;

    /// <summary>Creates the model with random weights held in <paramref name="dtype"/>.</summary>
    public DecoderForCausalLM(DecoderConfig config, ScalarType dtype = ScalarType.Float32) : base(nameof(DecoderForCausalLM), config)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
        {
            throw new ArgumentException($"the model dtype must be floating point, got {dtype}", nameof(dtype));
        }

        Decoder = config;
        DType = dtype;
        EosTokenIds = config.EosTokenIds;
        model = new DecoderModel(config, dtype);
        if (!config.TieWordEmbeddings)
        {
            lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, dtype: dtype);
        }

        RegisterComponents();
    }

    /// <summary>The decoder configuration.</summary>
    public DecoderConfig Decoder { get; }

    /// <summary>The dtype the base weights were created in.</summary>
    public ScalarType DType { get; }

    /// <summary>The ids that end generation (<c>generation_config.json</c>'s <c>eos_token_id</c> when present, else <c>config.json</c>'s).</summary>
    public IReadOnlyList<int> EosTokenIds { get; set; }

    /// <summary>The backbone.</summary>
    public DecoderModel Backbone => model;

    /// <summary>
    /// Turns on activation checkpointing per decoder layer (transformers' <c>gradient_checkpointing_enable()</c>):
    /// in training, each layer's activations are recomputed in the backward instead of kept. Gradients are
    /// unchanged; memory falls to about one hidden state per layer plus one layer's activations.
    /// </summary>
    public void EnableGradientCheckpointing() => model.GradientCheckpointing = true;

    /// <summary>Turns activation checkpointing off (transformers' <c>gradient_checkpointing_disable()</c>).</summary>
    public void DisableGradientCheckpointing() => model.GradientCheckpointing = false;

    /// <summary>True when the layers are checkpointed in training (see <see cref="EnableGradientCheckpointing"/>).</summary>
    public bool IsGradientCheckpointing => model.GradientCheckpointing;

    /// <summary>The weight the logits are computed with: <c>lm_head.weight</c>, or the embedding table itself when tied.</summary>
    public Tensor OutputEmbeddings => lm_head is null ? model.TokenEmbeddings : (BaseOf(lm_head) as TorchSharp.Modules.Linear)?.weight ?? throw new InvalidOperationException("lm_head is wrapped; its base weight is not reachable");

    /// <summary>
    /// The output head's weight when the head is a bare bias-free projection (tied embeddings, or an
    /// <c>lm_head</c> no adapter or <c>modules_to_save</c> wraps), so a loss may apply it to the final
    /// hidden states itself (chunked over tokens); null otherwise.
    /// </summary>
    public Tensor? PlainOutputWeight => lm_head switch
    {
        null => model.TokenEmbeddings,
        TorchSharp.Modules.Linear { bias: null } linear => linear.weight,
        _ => null,
    };

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.CausalLanguageModeling;

    /// <inheritdoc />
    public override string ArchitectureName => Decoder.ArchitectureName;

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => ["lm_head"];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null) =>
        Forward(inputIds, attentionMask, positionIds: null, cache: null, lastPositionOnly: false);

    /// <summary>
    /// Logits <c>(batch, T, vocab)</c> (or <c>(batch, 1, vocab)</c> with <paramref name="lastPositionOnly"/>)
    /// of <paramref name="inputIds"/> after the positions already in <paramref name="cache"/>.
    /// </summary>
    /// <param name="inputIds">Token ids <c>(batch, T)</c>.</param>
    /// <param name="attentionMask">1 for real tokens, 0 for padding, over the cached and new positions; null: all real.</param>
    /// <param name="positionIds">RoPE positions; null: derived from the mask.</param>
    /// <param name="cache">KV cache from <see cref="CreateCache"/>, or null.</param>
    /// <param name="lastPositionOnly">Project only the last position onto the vocabulary.</param>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache, bool lastPositionOnly)
    {
        using var scope = NewDisposeScope();
        var hidden = model.Forward(inputIds, attentionMask, positionIds, cache);
        if (lastPositionOnly)
        {
            hidden = hidden.narrow(1, hidden.shape[1] - 1, 1);
        }

        var logits = lm_head is null ? RowLinear.Forward(hidden, model.TokenEmbeddings) : RowLinear.Forward(lm_head, hidden);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// transformers' <c>output_hidden_states</c> without the logits: the embeddings' output, then every
    /// layer's output, the last one after the final norm (<c>num_hidden_layers + 1</c> tensors, each
    /// <c>(batch, T, hidden)</c>).
    /// </summary>
    /// <param name="inputIds">Token ids <c>(batch, T)</c>.</param>
    /// <param name="attentionMask">1 for real tokens, 0 for padding; null: all real.</param>
    public IReadOnlyList<Tensor> HiddenStates(Tensor inputIds, Tensor? attentionMask = null)
    {
        var states = new List<Tensor>(Decoder.NumHiddenLayers + 1);
        _ = model.Forward(inputIds, attentionMask, hiddenStates: states); // the final state, also the last of the list
        return states;
    }

    /// <summary>An empty KV cache for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> positions.</summary>
    public KvCache CreateCache(long batch, int capacity) =>
        new(Decoder.NumHiddenLayers, batch, Decoder.NumKeyValueHeads, Decoder.HeadDim, capacity, model.TokenEmbeddings.dtype, model.TokenEmbeddings.device);

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name)
    {
        // Old Llama checkpoints carry the non-persistent RoPE buffer; a tied head may be stored too.
        if (name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (Decoder.TieWordEmbeddings && name == "lm_head.weight"))
        {
            return null;
        }

        return name;
    }

    private static nn.Module BaseOf(nn.Module module) =>
        module is PeftSharp.Adapters.AdapterLayer layer ? BaseOf(layer.BaseLayer) : module;
}
