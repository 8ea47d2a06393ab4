using PeftSharp.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>GPT-2 attention: fused <c>c_attn</c> (Conv1D, q|k|v) and <c>c_proj</c>, causal.</summary>
public sealed class Gpt2Attention : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> c_attn;
    private readonly nn.Module<Tensor, Tensor> c_proj;
    private readonly Dropout resid_dropout;
    private readonly Gpt2Config _config;

    /// <summary>Creates the block.</summary>
    public Gpt2Attention(Gpt2Config config) : base(nameof(Gpt2Attention))
    {
        _config = config;
        c_attn = new Conv1D(config.NEmbd, 3 * config.NEmbd);
        c_proj = new Conv1D(config.NEmbd, config.NEmbd);
        resid_dropout = nn.Dropout(config.ResidDropout);
        RegisterComponents();
    }

    /// <summary>Causal self-attention over <paramref name="hidden"/> with the additive <paramref name="mask"/>.</summary>
    public Tensor Forward(Tensor hidden, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var qkv = c_attn.forward(hidden).split(_config.NEmbd, 2);
        var scale = _config.ScaleAttnWeights ? (double?)null : 1.0;
        var context = Attention.MultiHead(qkv[0], qkv[1], qkv[2], _config.NHead, mask, _config.AttnDropout, training, scale);
        return resid_dropout.forward(c_proj.forward(context)).MoveToOuterDisposeScope();
    }
}

/// <summary>GPT-2 MLP: <c>c_fc</c>, activation, <c>c_proj</c> (Conv1D).</summary>
public sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> c_fc;
    private readonly nn.Module<Tensor, Tensor> c_proj;
    private readonly Dropout dropout;
    private readonly string _activation;

    /// <summary>Creates the block.</summary>
    public Gpt2Mlp(Gpt2Config config) : base(nameof(Gpt2Mlp))
    {
        c_fc = new Conv1D(config.NEmbd, config.NInner);
        c_proj = new Conv1D(config.NInner, config.NEmbd);
        dropout = nn.Dropout(config.ResidDropout);
        _activation = config.ActivationFunction;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return dropout.forward(c_proj.forward(Activations.Apply(_activation, c_fc.forward(hidden)))).MoveToOuterDisposeScope();
    }
}

/// <summary>One pre-LN GPT-2 block: <c>ln_1</c>, <c>attn</c>, <c>ln_2</c>, <c>mlp</c>.</summary>
public sealed class Gpt2Block : nn.Module
{
    private readonly LayerNorm ln_1;
    private readonly Gpt2Attention attn;
    private readonly LayerNorm ln_2;
    private readonly Gpt2Mlp mlp;

    /// <summary>Creates the block.</summary>
    public Gpt2Block(Gpt2Config config) : base(nameof(Gpt2Block))
    {
        ln_1 = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        attn = new Gpt2Attention(config);
        ln_2 = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        mlp = new Gpt2Mlp(config);
        RegisterComponents();
    }

    /// <summary>Runs the block.</summary>
    public Tensor Forward(Tensor hidden, Tensor mask)
    {
        using var scope = NewDisposeScope();
        hidden = hidden + attn.Forward(ln_1.forward(hidden), mask);
        return (hidden + mlp.forward(ln_2.forward(hidden))).MoveToOuterDisposeScope();
    }
}

/// <summary>The GPT-2 backbone: <c>wte</c>, <c>wpe</c>, <c>h.N</c>, <c>ln_f</c>.</summary>
public sealed class Gpt2Model : nn.Module
{
    private readonly Embedding wte;
    private readonly Embedding wpe;
    private readonly Dropout drop;
    private readonly ModuleList<Gpt2Block> h;
    private readonly LayerNorm ln_f;
    private readonly Gpt2Config _config;

    /// <summary>Creates the backbone.</summary>
    public Gpt2Model(Gpt2Config config) : base(nameof(Gpt2Model))
    {
        _config = config;
        wte = nn.Embedding(config.VocabSize, config.NEmbd);
        wpe = nn.Embedding(config.NPositions, config.NEmbd);
        drop = nn.Dropout(config.EmbdDropout);
        h = nn.ModuleList(Enumerable.Range(0, config.NLayer).Select(_ => new Gpt2Block(config)).ToArray());
        ln_f = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        RegisterComponents();
    }

    /// <summary>The token embedding table (tied to the LM head).</summary>
    public Parameter TokenEmbeddings => wte.weight!;

    /// <summary>Final hidden states <c>(batch, T, n_embd)</c>; positions are 0…T−1 as in Hugging Face's forward.</summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var length = inputIds.shape[1];
        if (length > _config.NPositions)
        {
            throw new ArgumentException($"sequence length {length} exceeds the model's {_config.NPositions} positions", nameof(inputIds));
        }

        Attention.CheckTokenIds(inputIds, _config.VocabSize);

        var positions = arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var hidden = drop.forward(wte.forward(inputIds) + wpe.forward(positions));
        var mask = Attention.AdditiveMask(attentionMask, length, causal: true, hidden.dtype, hidden.device)!;
        foreach (var block in h)
        {
            hidden = block.Forward(hidden, mask);
        }

        return ln_f.forward(hidden).MoveToOuterDisposeScope();
    }
}

/// <summary>Hugging Face <c>GPT2LMHeadModel</c>: <c>transformer</c> and an LM head tied to <c>wte</c>.</summary>
public sealed class Gpt2LMHeadModel : PretrainedModel
{
    private readonly Gpt2Model transformer;

    /// <summary>Creates the model with random weights.</summary>
    public Gpt2LMHeadModel(Gpt2Config config) : base(nameof(Gpt2LMHeadModel), config)
    {
        Gpt2 = config;
        transformer = new Gpt2Model(config);
        RegisterComponents();
    }

    /// <summary>The GPT-2 configuration.</summary>
    public Gpt2Config Gpt2 { get; }

    /// <inheritdoc />
    public override ModelTask Task => ModelTask.CausalLanguageModeling;

    /// <inheritdoc />
    public override string ArchitectureName => "GPT2LMHeadModel";

    /// <inheritdoc />
    public override IReadOnlyList<string> OutputHeadNames => ["lm_head"];

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var hidden = transformer.Forward(inputIds, attentionMask);
        return nn.functional.linear(hidden, transformer.TokenEmbeddings).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Continues <paramref name="inputIds"/> <c>(batch, T)</c> by <paramref name="maxNewTokens"/> tokens:
    /// greedy when <paramref name="topK"/> is 0, else sampling from the <paramref name="topK"/> most
    /// likely tokens at <paramref name="temperature"/> with <paramref name="generator"/> (deterministic
    /// for a seeded generator). Stops early when every sequence produced <see cref="Gpt2Config.EosTokenId"/>.
    /// </summary>
    public Tensor Generate(Tensor inputIds, int maxNewTokens, int topK = 0, double temperature = 1.0, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(topK);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var sequence = inputIds;
        var finished = zeros(inputIds.shape[0], dtype: ScalarType.Bool, device: inputIds.device);
        for (var i = 0; i < maxNewTokens; i++)
        {
            var window = sequence.shape[1] > Gpt2.NPositions ? sequence[.., ^Gpt2.NPositions..] : sequence;
            var logits = Forward(window)[.., -1];
            Tensor next;
            if (topK == 0)
            {
                next = logits.argmax(-1);
            }
            else
            {
                var (values, indices) = logits.div(temperature).topk(Math.Min(topK, Gpt2.VocabSize));
                var choice = multinomial(nn.functional.softmax(values, -1), 1, generator: generator);
                next = indices.gather(-1, choice).squeeze(-1);
            }

            next = where(finished, full_like(next, Gpt2.EosTokenId), next);
            sequence = cat([sequence, next.unsqueeze(1)], 1);
            finished = finished.logical_or(next.eq(Gpt2.EosTokenId));
            if (finished.all().item<bool>())
            {
                break;
            }
        }

        return sequence.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected internal override string? MapCheckpointName(string name)
    {
        if (name == "lm_head.weight" || name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal))
        {
            return null;
        }

        // Checkpoints saved from GPT2Model (the common "gpt2" files) have no "transformer." prefix.
        return name.StartsWith("transformer.", StringComparison.Ordinal) ? name : "transformer." + name;
    }
}
