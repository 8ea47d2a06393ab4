using PeftSharp.Layers;
using PeftSharp.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>A three-layer MLP with injectable fields (fc1, fc2, head).</summary>
internal sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> fc1;
    private readonly nn.Module<Tensor, Tensor> fc2;
    private readonly nn.Module<Tensor, Tensor> head;

    public Mlp(int input = 8, int hidden = 16, int output = 3) : base(nameof(Mlp))
    {
        fc1 = nn.Linear(input, hidden);
        fc2 = nn.Linear(hidden, hidden);
        head = nn.Linear(hidden, output);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(fc1.forward(input));
        h = nn.functional.relu(fc2.forward(h));
        return head.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>An attention-like block: q, k, v, o projections and an MLP in a Sequential.</summary>
internal sealed class Block : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> q;
    private readonly nn.Module<Tensor, Tensor> k;
    private readonly nn.Module<Tensor, Tensor> v;
    private readonly nn.Module<Tensor, Tensor> o;
    private readonly Sequential mlp;
    private readonly nn.Module<Tensor, Tensor> norm;

    public Block(int d) : base(nameof(Block))
    {
        q = nn.Linear(d, d);
        k = nn.Linear(d, d);
        v = nn.Linear(d, d);
        o = nn.Linear(d, d);
        mlp = nn.Sequential(("fc_in", nn.Linear(d, 2 * d)), ("act", nn.ReLU()), ("fc_out", nn.Linear(2 * d, d)));
        norm = nn.LayerNorm(d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var mixed = o.forward(q.forward(input) * nn.functional.sigmoid(k.forward(input)) + v.forward(input));
        var h = norm.forward(input + mixed);
        return (h + mlp.forward(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>A small transformer-shaped model: embedding projection, layers.N blocks, a dictionary of heads and an lm_head.</summary>
internal sealed class Tower : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> proj;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> layers;
    private readonly ModuleDict<nn.Module<Tensor, Tensor>> extra;
    private readonly nn.Module<Tensor, Tensor> lm_head;

    public Tower(int d = 8, int layerCount = 3, int vocab = 5) : base(nameof(Tower))
    {
        proj = nn.Linear(d, d);
        layers = nn.ModuleList<nn.Module<Tensor, Tensor>>(Enumerable.Range(0, layerCount).Select(_ => (nn.Module<Tensor, Tensor>)new Block(d)).ToArray());
        extra = new ModuleDict<nn.Module<Tensor, Tensor>>();
        extra.Add(("gate", nn.Linear(d, d)));
        lm_head = nn.Linear(d, vocab);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var h = proj.forward(input);
        foreach (var layer in layers)
        {
            h = layer.forward(h);
        }

        h = h * nn.functional.sigmoid(extra["gate"].forward(h));
        return lm_head.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>A model that holds its projection in a field typed Linear (sealed): adapters cannot be injected there.</summary>
internal sealed class SealedFieldModel : nn.Module<Tensor, Tensor>
{
    private readonly Linear proj;

    public SealedFieldModel() : base(nameof(SealedFieldModel))
    {
        proj = nn.Linear(4, 4);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => proj.forward(input);
}

/// <summary>A GPT-2-style model with a Conv1D projection.</summary>
internal sealed class ConvModel : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> c_attn;

    public ConvModel(int input = 6, int output = 9) : base(nameof(ConvModel))
    {
        c_attn = new Conv1D(input, output);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => c_attn.forward(input);
}

internal static class TestUtil
{
    /// <summary>Asserts |a − b| ≤ atol + rtol·|b| everywhere.</summary>
    public static void AssertClose(Tensor actual, Tensor expected, double rtol = 1e-5, double atol = 1e-6)
    {
        Xunit.Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var error = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs();
        var bound = expected.to(ScalarType.Float64).abs() * rtol + atol;
        var worst = (error - bound).max().item<double>();
        Xunit.Assert.True(worst <= 0, $"tensors differ: max |error| {error.max().item<double>():G6} exceeds tolerance (rtol {rtol}, atol {atol}) by {worst:G6}");
    }

    /// <summary>True when both tensors have the same shape and identical elements.</summary>
    public static bool Identical(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
        {
            return false;
        }

        using var scope = NewDisposeScope();
        return a.eq(b).all().item<bool>();
    }

    /// <summary>Fills every LoRA B with random values so the adapter changes the output.</summary>
    public static void RandomizeAdapters(PeftSharp.Adapters.PeftModel peft, string adapter = "default", double scale = 0.5)
    {
        using var noGrad = no_grad();
        foreach (var module in peft.ModulesOf(adapter))
        {
            var path = (PeftSharp.Methods.Lora.LoraPath)module.Layer.GetPath(adapter);
            path.B.copy_(randn_like(path.B) * scale);
        }
    }
}
