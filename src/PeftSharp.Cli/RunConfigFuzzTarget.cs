using System.CommandLine;
using PeftSharp.Fuzzing;

namespace PeftSharp.Cli;

/// <summary>
/// <c>peft train --config run.json</c>: the run config is expanded into options
/// (<see cref="RunConfig.Apply"/>) against the real <c>peft</c> command tree and parsed by
/// System.CommandLine, whose parse errors count as a typed rejection. An accepted run config must
/// yield a value for every option of <c>train</c>. Nothing is run.
/// </summary>
internal sealed class RunConfigFuzzTarget : FuzzTarget
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "run-config";

    /// <summary>The target's description.</summary>
    public const string TargetDescription = "Feed 'peft train --config run.json' mutated run configs and random bytes (expanded and parsed, never run).";

    private const string FileName = "run.json";
    private readonly RootCommand _root = Program.CreateRootCommand();
    private readonly Command _train;
    private readonly JsonFuzzMutator _mutator;

    public RunConfigFuzzTarget()
    {
        _train = _root.Subcommands.Single(c => c.Name == "train");
        var names = _train.Options.Select(o => o.Name.TrimStart('-')).Concat(["stepz", "", "-", "config", "verbose"]).ToList();
        JsonNode?[] values =
        [
            "lora", "adalora", "sora", "nonexistent", "Cosine", "constant", "Linear", "linear ", "macro_f1", "--help", "-h", "--steps", "-1", "1e-3",
            "@response.rsp", "models/base", "a\u0000b", "", 0, -1, 2147483648L, 1e-3, double.Epsilon, true, false,
            new JsonArray("a", "b"), new JsonArray(), new JsonArray(1, new JsonArray()), new JsonObject { ["x"] = 1 },
        ];
        _mutator = new JsonFuzzMutator(names, values);
    }

    /// <inheritdoc />
    public override string Name => TargetName;

    /// <inheritdoc />
    public override string Description => TargetDescription;

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed) =>
    [
        Encoding.UTF8.GetBytes("""{"method": "sora", "steps": 300, "lr": 0.001, "batch-size": 8, "eval-every": 50, "schedule": "Cosine"}"""),
        Encoding.UTF8.GetBytes("""{"base": "models/base", "data": "data/sotu-era", "method": "adalora", "epochs": 2, "grad-accum": 2, "metric": "macro_f1", "early-stopping": 3, "seed": 7, "resume": false, "output": "runs/a"}"""),
        Encoding.UTF8.GetBytes("""{"method": ["lora"], "lr": 2e-4, "steps": null, "resume": true, "adapter-config": "adapter_config.json"}"""),
        Encoding.UTF8.GetBytes("{}"),
    ];

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        var args = RunConfig.Apply(_train, ["train"], ConfigJson.Parse(input, FileName));
        var parsed = _root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            throw new ConfigFormatException(FileName, null, $"the options do not parse: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
        }

        if (parsed.CommandResult.Command != _train || parsed.Action != _train.Action)
        {
            throw new InvalidOperationException($"the run config turned 'peft train' into another action: peft {string.Join(' ', args)}");
        }

        foreach (var option in _train.Options)
        {
            _ = parsed.GetResult(option)?.GetValueOrDefault<object?>();
        }

        return 0;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds) => _mutator.Mutate(seed, random, seeds);
}
