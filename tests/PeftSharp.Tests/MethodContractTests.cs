using PeftSharp.Adapters;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>One theory over every registered method and each of its contract variants: no per-method code.</summary>
public sealed class MethodContractTests
{
    public static TheoryData<string, string> Variants()
    {
        var data = new TheoryData<string, string>();
        foreach (var method in AdapterMethodRegistry.All)
        {
            foreach (var (name, _) in method.ContractVariants())
            {
                data.Add(method.Name, name);
            }
        }

        return data;
    }

    private static AdapterConfig Variant(string method, string variant)
    {
        var config = AdapterMethodRegistry.Find(method)!.ContractVariants().Single(v => v.Name == variant).Config;
        config.TargetModules = TargetModules.FromNames("fc1", "fc2");
        return config;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryVariantSurvivesASaveAndAReload(string method, string variant)
    {
        var config = Variant(method, variant);
        var text = AdapterConfigFile.ToJson(config);
        var warnings = new List<string>();
        var back = AdapterConfigFile.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(text), AdapterConfigFile.FileName), warnings);
        Assert.Same(config.Method, back.Method);
        Assert.Equal(text, AdapterConfigFile.ToJson(back));
        Assert.Empty(warnings);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryVariantInjectsAndSavesThroughItsMethod(string method, string variant)
    {
        manual_seed(1);
        var config = Variant(method, variant);
        var peft = PeftModel.Create(new Mlp(), config);
        Assert.Equal(2, peft.ModulesOf(peft.ActiveAdapter).Count);
        var saved = config.Method.ConfigForSave(config, peft.ActiveAdapter, peft.ModulesOf(peft.ActiveAdapter));
        Assert.Same(config.Method, saved.Method);
    }

    [Theory]
    [InlineData("{\"peft_type\":\"ADALORA\",\"beta1\":1.0}", "beta1", "expected a number in (0, 1), found 1")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":-3}", "r", "expected an integer > 0, found -3")]
    [InlineData("{\"peft_type\":\"SORA\",\"lora_dropout\":1}", "lora_dropout", "expected a probability in [0, 1), found 1")]
    [InlineData("{\"peft_type\":\"TIED_LORA\",\"lora_alpha\":1e999}", "lora_alpha", "expected a number")]
    public void RangeChecksNameTheJsonKey(string text, string field, string problem)
    {
        var error = Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(text), AdapterConfigFile.FileName)));
        Assert.Equal(field, error.Field);
        Assert.Equal($"{AdapterConfigFile.FileName}: field '{field}': {problem}", error.Message[..Math.Min(error.Message.Length, AdapterConfigFile.FileName.Length + field.Length + problem.Length + 12)]);
    }

    [Fact]
    public void FixedPeftFieldsAreWrittenAsPeftWritesThem()
    {
        var lora = AdapterConfigFile.ToJson(new PeftSharp.Methods.Lora.LoraConfig { TargetModules = TargetModules.FromNames("q") });
        Assert.Contains("\"megatron_core\": \"megatron.core\"", lora);
        Assert.Contains("\"loftq_config\": {}", lora);
        Assert.Contains("\"layer_replication\": null", lora);
        var adalora = AdapterConfigFile.ToJson(new PeftSharp.Methods.AdaLora.AdaLoraConfig { TargetModules = TargetModules.FromNames("q") });
        Assert.Contains("\"use_dora\": false", adalora);
        Assert.Contains("\"init_lora_weights\": true", adalora);
        Assert.Contains("\"alpha_pattern\": {}", adalora);
    }

    [Fact]
    public void UseDoraBuildsDoraPaths()
    {
        var config = AdapterConfigFile.Read(ConfigJson.Parse("{\"peft_type\":\"LORA\",\"use_dora\":true,\"target_modules\":[\"fc1\"]}"u8, AdapterConfigFile.FileName));
        Assert.Contains("\"use_dora\": true", AdapterConfigFile.ToJson(config));
        var peft = PeftModel.Create(new Mlp(), config);
        Assert.IsType<PeftSharp.Methods.Lora.DoraPath>(peft.ModulesOf(peft.ActiveAdapter).Single().Layer.GetPath(peft.ActiveAdapter));
    }
}
