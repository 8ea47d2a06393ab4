using System.Reflection;
using PeftSharp.Adapters;
using PeftSharp.IO.Json;
using PeftSharp.Models;
using PeftSharp.Training;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// The range checks declared on configuration properties (<see cref="FieldCheckAttribute"/>) and the
/// snake-case naming of the configuration contracts: a check reports the key the file really has.
/// </summary>
public sealed class DeclaredFieldCheckTests
{
    public static TheoryData<string> Methods => [.. AdapterMethodRegistry.All.Select(m => m.Name)];

    [Theory]
    [MemberData(nameof(Methods))]
    public void EveryDeclaredCheckRefusesABadValueUnderTheKeyTheSavedFileHas(string name)
    {
        var method = AdapterMethodRegistry.Find(name)!;
        var keys = JsonNode.Parse(AdapterConfigFile.ToJson(method.CreateConfig()))!.AsObject().Select(p => p.Key).ToHashSet();
        var checkedProperties = method.ConfigType.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(p => p.GetCustomAttributes<FieldCheckAttribute>().Any())
            .ToList();
        Assert.NotEmpty(checkedProperties);
        foreach (var property in checkedProperties)
        {
            var config = method.CreateConfig();
            config.CheckFields(new ConfigValidator(config.GetType().Name, AdapterConfigFile.FileName, reading: true));
            property.SetValue(config, property.PropertyType == typeof(int) ? (object)(-1) : double.NaN);
            var error = Assert.Throws<ConfigFormatException>(() => config.CheckFields(new ConfigValidator(config.GetType().Name, AdapterConfigFile.FileName, reading: true)));
            Assert.NotNull(error.Field);
            Assert.Contains(error.Field!, keys);
            var inCode = Assert.Throws<PeftConfigurationException>(() => config.CheckFields(new ConfigValidator(config.GetType().Name, null, reading: false)));
            Assert.StartsWith($"{config.GetType().Name}.{property.Name} must be ", inCode.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("deltaT", "0", "an integer > 0")]
    [InlineData("beta1", "1", "a number in (0, 1)")]
    [InlineData("tinit", "-2", "an integer ≥ 0")]
    [InlineData("orth_reg_weight", "-0.5", "a finite number ≥ 0")]
    [InlineData("lora_dropout", "1", "a probability in [0, 1)")]
    public void AnAdaLoraFileOutOfRangeNamesItsKey(string key, string value, string expectation)
    {
        var json = $$"""{"peft_type": "ADALORA", "target_modules": ["q"], "total_step": 100, "{{key}}": {{value}}}""";
        var error = Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(json), "adapter_config.json")));
        Assert.Equal(key, error.Field);
        Assert.Contains($"expected {expectation}, found {value}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("n_embd")]
    [InlineData("n_inner")]
    [InlineData("vocab_size")]
    public void AGpt2SizeOfZeroNamesItsKey(string key)
    {
        var json = $$"""{"model_type": "gpt2", "{{key}}": 0}""";
        var error = Assert.Throws<ConfigFormatException>(() => Gpt2Config.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(json), "config.json")));
        Assert.Equal(key, error.Field);
    }

    [Fact]
    public void AGpt2WidthWhoseDefaultInnerSizeOverflowsIsRefusedAtNInner()
    {
        var json = """{"model_type": "gpt2", "n_embd": 1073741824, "n_head": 1}""";
        var error = Assert.Throws<ConfigFormatException>(() => Gpt2Config.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(json), "config.json")));
        Assert.Equal("n_inner", error.Field);
    }

    [Fact]
    public void ATrainerStateWrittenBeforeSnakeCaseEvaluationsStillReads()
    {
        var json = """
            {"step": 12, "best_metric": 0.75, "best_step": 10, "since_best": 1, "losses": [0.5],
             "evaluations": [{"Step": 10, "Loss": 0.25, "Metrics": {"accuracy": 0.75}}], "controller_values": {}}
            """;
        var state = (TrainerStateFile)ConfigContract.Deserialize("trainer_state.json", JsonNode.Parse(json)!.AsObject(), TrainingJsonContext.Default.TrainerStateFile);
        var evaluation = Assert.Single(state.Evaluations);
        Assert.Equal(10, evaluation.Step);
        Assert.Equal(0.25, evaluation.Loss);
        Assert.Equal(0.75, evaluation.Metrics["accuracy"]);

        var written = JsonNode.Parse(JsonSerializer.Serialize(state, TrainingJsonContext.Default.TrainerStateFile))!;
        Assert.Equal(10, written["evaluations"]![0]!["step"]!.GetValue<int>());
        Assert.Equal(0.75, written["evaluations"]![0]!["metrics"]!["accuracy"]!.GetValue<double>());
    }
}
