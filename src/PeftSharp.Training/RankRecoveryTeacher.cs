using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>One target module of a <see cref="RankRecoveryTeacher"/>.</summary>
/// <param name="Name">The module's name in the model (e.g. <c>model.layers.0.self_attn.q_proj</c>).</param>
/// <param name="Rank">The rank of its update (0: the teacher leaves it alone).</param>
/// <param name="DirectionStrength">The singular value of every direction of its update: the teacher's strength times the RMS singular value of the base weight.</param>
/// <param name="Delta">The update <c>(out, in)</c> added to the base weight.</param>
public sealed record TeacherModule(string Name, int Rank, double DirectionStrength, Tensor Delta);

/// <summary>
/// The teacher of the rank-recovery benchmark: a base decoder plus a random update of known rank in
/// every target module (<see cref="LowRankDeltas.Create"/>: a flat spectrum, each direction as strong
/// as <see cref="Strength"/> times a typical direction of the base weight). Ranks are a seeded
/// permutation of <see cref="RankPool"/> repeated over the modules, drawn again until every module
/// type (the name's last part, e.g. <c>q_proj</c>) that occurs more than once has at least two
/// different ranks, so the truth varies within a type and includes zeros. A student learns the
/// teacher's full next-token distributions (<see cref="DistillationTask"/>), so every update's
/// effect is observable.
/// </summary>
public sealed class RankRecoveryTeacher : IDisposable
{
    private RankRecoveryTeacher(string baseDirectory, DecoderForCausalLM model, IReadOnlyList<TeacherModule> modules, double strength, int seed)
    {
        BaseDirectory = baseDirectory;
        Model = model;
        Modules = modules;
        Strength = strength;
        Seed = seed;
    }

    /// <summary>The ranks dealt to the target modules (repeated as often as the modules need), before the seeded permutation.</summary>
    public static IReadOnlyList<int> RankPool { get; } = [0, 1, 2, 3, 4, 6, 8];

    /// <summary>The base decoder's folder.</summary>
    public string BaseDirectory { get; }

    /// <summary>The teacher (base plus updates), in eval mode and frozen.</summary>
    public DecoderForCausalLM Model { get; }

    /// <summary>The target modules in model order, with their ranks and updates.</summary>
    public IReadOnlyList<TeacherModule> Modules { get; }

    /// <summary>The singular value of each update direction relative to the base weight's RMS singular value.</summary>
    public double Strength { get; }

    /// <summary>The seed of the ranks and the update directions.</summary>
    public int Seed { get; }

    /// <summary>The true rank of every target module, by name.</summary>
    public IReadOnlyDictionary<string, int> Ranks => Modules.ToDictionary(m => m.Name, m => m.Rank, StringComparer.Ordinal);

    /// <summary>Builds the teacher from the decoder in <paramref name="baseDirectory"/>.</summary>
    /// <exception cref="PeftConfigurationException">The model is not a causal LM or <paramref name="targets"/> selects no linear module.</exception>
    public static RankRecoveryTeacher Create(string baseDirectory, TargetModules targets, int seed, double strength)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(strength);
        var model = LoadDecoder(baseDirectory);
        var linears = model.named_modules().Where(m => m.module is Linear && TargetSelector.Matches(targets, m.name)).Select(m => (m.name, Weight: ((Linear)m.module).weight!)).ToList();
        if (linears.Count == 0)
        {
            throw new PeftConfigurationException($"the targets {targets} select no linear module of {baseDirectory}");
        }

        var ranks = AssignRanks([.. linears.Select(l => l.name)], seed);
        var generator = new Generator((ulong)seed * 7919 + 17);
        var modules = new List<TeacherModule>();
        using (no_grad())
        {
            for (var i = 0; i < linears.Count; i++)
            {
                var (name, weight) = linears[i];
                var singular = strength * LowRankDeltas.RmsSingularValue(weight);
                var delta = LowRankDeltas.Create(weight.shape[0], weight.shape[1], ranks[i], singular, generator).DetachFromDisposeScope();
                weight.add_(delta);
                modules.Add(new TeacherModule(name, ranks[i], singular, delta));
            }
        }

        model.eval();
        foreach (var parameter in model.parameters())
        {
            parameter.requires_grad = false;
        }

        return new RankRecoveryTeacher(baseDirectory, model, modules, strength, seed);
    }

    /// <summary>
    /// Deals <see cref="RankPool"/> (repeated) to <paramref name="moduleNames"/> in a permutation drawn
    /// from <paramref name="seed"/>, drawing again until every module type with two or more modules has
    /// two or more different ranks (at most 1,000 draws; with fewer than two pool values per type it
    /// keeps the last draw).
    /// </summary>
    public static IReadOnlyList<int> AssignRanks(IReadOnlyList<string> moduleNames, int seed)
    {
        ArgumentNullException.ThrowIfNull(moduleNames);
        var pool = Enumerable.Range(0, moduleNames.Count).Select(i => RankPool[i % RankPool.Count]).ToArray();
        var types = moduleNames.Select((name, i) => (Type: name[(name.LastIndexOf('.') + 1)..], Index: i)).GroupBy(t => t.Type).Where(g => g.Count() > 1).ToList();
        var random = new Random(seed);
        for (var draw = 0; draw < 1000; draw++)
        {
            random.Shuffle(pool);
            if (types.All(g => g.Select(t => pool[t.Index]).Distinct().Count() > 1))
            {
                break;
            }
        }

        return pool;
    }

    /// <summary>A fresh copy of the base decoder (the student starts from it).</summary>
    public DecoderForCausalLM LoadBase() => LoadDecoder(BaseDirectory);

    /// <summary>
    /// Writes <c>truth.json</c> (base, seed, strength, and per module its rank and direction strength)
    /// and <c>teacher_deltas.safetensors</c> (every update) to <paramref name="directory"/>.
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Save(Path.Combine(directory, "teacher_deltas.safetensors"), Modules.ToDictionary(m => m.Name, m => m.Delta));
        var truth = new JsonObject
        {
            ["base"] = Path.GetFullPath(BaseDirectory),
            ["seed"] = Seed,
            ["strength"] = Strength,
            ["ranks"] = new JsonObject(Modules.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)m.Rank))),
            ["direction_strength"] = new JsonObject(Modules.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)m.DirectionStrength))),
        };
        AtomicFile.WriteAllText(Path.Combine(directory, "truth.json"), truth.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var module in Modules)
        {
            module.Delta.Dispose();
        }

        Model.Dispose();
    }

    private static DecoderForCausalLM LoadDecoder(string directory) =>
        PretrainedModel.FromPretrained(directory) as DecoderForCausalLM
        ?? throw new PeftConfigurationException($"{directory} does not hold a decoder (causal LM); the rank-recovery teacher needs one");
}
