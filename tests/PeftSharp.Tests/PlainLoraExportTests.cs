using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// A method defined outside the library (as a seventh method would be): a prefix-truncated path
/// whose live rank differs per module, including rank 0, with scaling alpha / rank.
/// </summary>
internal sealed class PrefixConfig : AdapterConfig
{
    public override AdapterMethod Method => PrefixMethod.Instance;

    [System.Text.Json.Serialization.JsonIgnore]
    public Func<string, int> LiveRank { get; init; } = _ => 2;
}

internal sealed class PrefixMethod : AdapterMethod<PrefixConfig>
{
    private PrefixMethod()
        : base("test_prefix", "TEST_PREFIX")
    {
    }

    public static PrefixMethod Instance { get; } = new();

    protected override LowRankPath CreatePath(PrefixConfig config, string moduleName, LinearTarget target, AdapterBuildContext context) =>
        new PrefixPath(target.InFeatures, target.OutFeatures, 4, config.LiveRank(moduleName), 6.0);
}

internal sealed class PrefixPath : LowRankPath
{
    private readonly Parameter a;
    private readonly Parameter b;
    private readonly int _live;
    private readonly double _alpha;

    public PrefixPath(int inFeatures, int outFeatures, int rank, int live, double alpha) : base(nameof(PrefixPath), inFeatures, outFeatures)
    {
        a = nn.Parameter(randn(rank, inFeatures) * 0.3);
        b = nn.Parameter(randn(outFeatures, rank) * 0.3);
        _live = live;
        _alpha = alpha;
        RegisterComponents();
    }

    public override int Rank => _live;

    public override double Scaling => _live == 0 ? 0 : _alpha / _live;

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        if (_live == 0)
        {
            return zeros(input.shape[0], OutFeatures).MoveToOuterDisposeScope();
        }

        return (matmul(matmul(input, a[.._live].t()), b[.., .._live].t()) * Scaling).MoveToOuterDisposeScope();
    }

    public override Tensor DeltaWeight()
    {
        using var noGrad = no_grad();
        return matmul(b[.., .._live], a[.._live]) * Scaling;
    }

    public override PlainLoraFactors ToPlainLora()
    {
        using var noGrad = no_grad();
        return new PlainLoraFactors(a[.._live].clone(), b[.., .._live].clone(), Scaling);
    }

    public override IEnumerable<KeyValuePair<string, Tensor>> NamedAdapterTensors() => [new("prefix_A", a), new("prefix_B", b)];
}

public sealed class PlainLoraExportTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-export-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public void AnyPathExportsAsAPlainLoraThatReproducesIt()
    {
        manual_seed(1);
        var model = new Tower();
        var config = new PrefixConfig
        {
            TargetModules = TargetModules.FromNames("q", "v", "fc_in"),
            ModulesToSave = ["lm_head"],
            LiveRank = name => name switch { "layers.0.q" => 0, "layers.1.v" => 3, "layers.2.mlp.fc_in" => 1, _ => 2 },
        };
        var peft = PeftModel.Create(model, config);
        model.eval();
        var x = randn(4, 8);
        var expected = model.forward(x).detach();

        var exported = peft.ExportPlainLora(_temp.FullName);
        Assert.Equal(2, exported.R);
        Assert.Equal(6, exported.LoraAlpha);
        Assert.DoesNotContain("layers.0.q", exported.TargetModules!.Names);
        Assert.Equal(8, exported.TargetModules.Names.Count);
        Assert.Equal(3, exported.RankPattern[@"layers\.1\.v"]);
        Assert.Equal(1, exported.RankPattern[@"layers\.2\.mlp\.fc_in"]);
        Assert.Empty(exported.AlphaPattern);

        manual_seed(1);
        var fresh = new Tower();
        var loaded = PeftModel.FromPretrained(fresh, _temp.FullName);
        Assert.IsType<LoraConfig>(loaded.GetConfig("default"));
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-6);
        using var file = SafetensorsFile.Open(Path.Combine(_temp.FullName, PeftModel.WeightsFileName));
        Assert.Equal([3L, 8L], file.Entries.Single(e => e.Name == "base_model.model.layers.1.v.lora_A.weight").Shape);
        Assert.Contains("base_model.model.lm_head.weight", file.Names);
    }

    [Fact]
    public void DifferentScalingsBecomeAnAlphaPattern()
    {
        manual_seed(2);
        var model = new Mlp();
        var config = new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = TargetModules.FromNames("fc1", "fc2"), UseRslora = true };
        var peft = PeftModel.Create(model, config);
        TestUtil.RandomizeAdapters(peft);
        var x = randn(3, 8);
        var expected = model.forward(x).detach();
        var exported = peft.ExportPlainLora(_temp.FullName);
        Assert.False(exported.UseRslora);
        Assert.Equal(4 * (8 / 2.0), exported.LoraAlpha, 12);
        manual_seed(2);
        var fresh = new Mlp();
        PeftModel.FromPretrained(fresh, _temp.FullName);
        TestUtil.AssertClose(fresh.forward(x).detach(), expected, 1e-5, 1e-6);
    }

    [Fact]
    public void AnAdapterWithNoLiveComponentCannotBeExported()
    {
        var peft = PeftModel.Create(new Mlp(), new PrefixConfig { TargetModules = TargetModules.FromNames("fc1"), LiveRank = _ => 0 });
        Assert.Throws<AllRanksPrunedException>(() => peft.ExportPlainLora(_temp.FullName));
    }
}
