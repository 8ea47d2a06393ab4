using PeftSharp.Adapters;
using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>One target module of a <see cref="RankRecoveryTeacher"/>.</summary>
/// <param name="Name">The module's name in the model (e.g. <c>model.layers.0.self_attn.q_proj</c>).</param>
/// <param name="Rank">The rank of its update (0: the teacher leaves it alone).</param>
/// <param name="DirectionStrength">
/// The singular value of every direction of the update's effect on the module's inputs
/// (<c>ΔW·C^½</c>): the teacher's strength times the RMS singular value of the base map on the same
/// inputs (<c>W·C^½</c>).
/// </param>
/// <param name="Delta">The update <c>(out, in)</c> added to the base weight.</param>
/// <param name="InputRoot">
/// <c>C^½</c> <c>(in, in)</c>, float64: the square root of the second moment <c>C = E[x·xᵀ]</c> of the
/// module's inputs in the base model on the corpus rows. A learned update's effect on real inputs is
/// <c>ΔŴ·C^½</c>; its singular values are what the data can show.
/// </param>
public sealed record TeacherModule(string Name, int Rank, double DirectionStrength, Tensor Delta, Tensor InputRoot)
{
    /// <summary>The singular values of <paramref name="update"/>'s effect on this module's inputs (<c>update·C^½</c>) divided by <see cref="DirectionStrength"/>, largest first.</summary>
    public double[] RelativeEffectSpectrum(Tensor update)
    {
        ArgumentNullException.ThrowIfNull(update);
        using var scope = NewDisposeScope();
        return [.. LowRankDeltas.SingularValues(matmul(update.detach().to(ScalarType.Float64), InputRoot)).Select(v => v / DirectionStrength)];
    }
}

/// <summary>
/// The teacher of the rank-recovery benchmark: a base decoder plus a random update of known rank in
/// every target module. An update only shows on the inputs the module sees, so it is drawn where the
/// data are: with <c>C = Q·Λ·Qᵀ</c> the second moment of the module's inputs on the corpus and
/// <c>Q_k</c> its top quarter of eigenvectors, <c>ΔW = s·U·Rᵀ·Λ_k^-½·Q_kᵀ</c> (<c>U</c> out × r and
/// <c>R</c> k × r random orthonormal), so <c>ΔW</c> has rank exactly r and its effect on the inputs,
/// <c>ΔW·C^½ = s·U·Rᵀ·Q_kᵀ</c>, has r equal singular values <c>s</c> = <see cref="Strength"/> times
/// the RMS singular value of <c>W·C^½</c> (each direction moves the output as much as a typical
/// direction of the base map does, times the strength). Ranks are a seeded
/// permutation of <see cref="RankPool"/> repeated over the modules, drawn again until every module
/// type (the name's last part, e.g. <c>q_proj</c>) that occurs more than once has at least two
/// different ranks, so the truth varies within a type and includes zeros. A student learns the
/// teacher's outputs densely (<see cref="DistillationTask"/>: every layer's hidden states, or the full
/// next-token distributions), so every update's effect is observable.
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

    /// <summary>Builds the teacher from the decoder in <paramref name="baseDirectory"/>, measuring its modules' inputs on <paramref name="rows"/> (token ids, all the same length).</summary>
    /// <exception cref="PeftConfigurationException">The model is not a causal LM or <paramref name="targets"/> selects no linear module.</exception>
    public static RankRecoveryTeacher Create(string baseDirectory, TargetModules targets, IReadOnlyList<long[]> rows, int seed, double strength)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(strength);
        var model = LoadDecoder(baseDirectory);
        var names = model.named_modules().Where(m => m.module is Linear && TargetSelector.Matches(targets, m.name)).Select(m => m.name).ToList();
        if (names.Count == 0)
        {
            throw new PeftConfigurationException($"the targets {targets} select no linear module of {baseDirectory}");
        }

        var moments = InputMoments(baseDirectory, names, rows);
        var ranks = AssignRanks(names, seed);
        var generator = new Generator((ulong)seed * 7919 + 17);
        var linears = model.named_modules().Where(m => names.Contains(m.name)).ToDictionary(m => m.name, m => ((Linear)m.module).weight!);
        var modules = new List<TeacherModule>();
        using (no_grad())
        {
            for (var i = 0; i < names.Count; i++)
            {
                using var scope = NewDisposeScope();
                var weight = linears[names[i]];
                var (values, vectors) = linalg.eigh(moments[i]);
                var k = (int)Math.Max(ranks.Max(), weight.shape[1] / 4);
                var top = vectors.narrow(1, weight.shape[1] - k, k);
                var topValues = values.narrow(0, weight.shape[1] - k, k).clamp_min(1e-12);
                var root = matmul(vectors * values.clamp_min(0).sqrt(), vectors.t());
                var singular = strength * LowRankDeltas.RmsSingularValue(matmul(weight.to(ScalarType.Float64), root));
                var delta = ranks[i] == 0 ? zeros(weight.shape[0], weight.shape[1])
                    : matmul(LowRankDeltas.Create(weight.shape[0], k, ranks[i], singular, generator).to(ScalarType.Float64), (top * topValues.rsqrt()).t()).to(ScalarType.Float32);
                weight.add_(delta);
                modules.Add(new TeacherModule(names[i], ranks[i], singular, delta.MoveToOuterDisposeScope(), root.MoveToOuterDisposeScope()));
            }
        }

        foreach (var moment in moments)
        {
            moment.Dispose();
        }

        model.eval();
        foreach (var parameter in model.parameters())
        {
            parameter.requires_grad = false;
        }

        return new RankRecoveryTeacher(baseDirectory, model, modules, strength, seed);
    }

    /// <summary>The second moments <c>E[x·xᵀ]</c> (float64) of the inputs of <paramref name="names"/> in the base decoder over <paramref name="rows"/>.</summary>
    private static List<Tensor> InputMoments(string baseDirectory, IReadOnlyList<string> names, IReadOnlyList<long[]> rows)
    {
        if (rows.Count == 0)
        {
            throw new ArgumentException("the teacher needs corpus rows to measure its modules' inputs", nameof(rows));
        }

        using var probe = LoadDecoder(baseDirectory);
        probe.eval();
        var probes = names.Select(name =>
        {
            var linear = (Linear)probe.named_modules().Single(m => m.name == name).module;
            var moment = new InputMoment(linear);
            ModuleSurgery.ReplaceChild(probe, name, moment);
            return moment;
        }).ToList();
        using (no_grad())
        {
            foreach (var chunk in rows.Chunk(8))
            {
                using var scope = NewDisposeScope();
                probe.Forward(tensor(chunk.SelectMany(r => r).ToArray()).view(chunk.Length, chunk[0].Length));
            }
        }

        return [.. probes.Select(p => p.Moment())];
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
            module.InputRoot.Dispose();
        }

        Model.Dispose();
    }

    private static DecoderForCausalLM LoadDecoder(string directory) =>
        PretrainedModel.FromPretrained(directory) as DecoderForCausalLM
        ?? throw new PeftConfigurationException($"{directory} does not hold a decoder (causal LM); the rank-recovery teacher needs one");

    /// <summary>A linear layer that also sums <c>x·xᵀ</c> over the rows of its inputs.</summary>
    private sealed class InputMoment : nn.Module<Tensor, Tensor>
    {
        private readonly Linear inner;
        private readonly Tensor _sum;
        private long _count;

        public InputMoment(Linear linear) : base(nameof(InputMoment))
        {
            inner = linear;
            _sum = zeros(linear.weight!.shape[1], linear.weight.shape[1], dtype: ScalarType.Float64).DetachFromDisposeScope();
            RegisterComponents();
        }

        public Tensor Moment() => (_sum / Math.Max(1, _count)).DetachFromDisposeScope();

        public override Tensor forward(Tensor input)
        {
            using (no_grad())
            using (var scope = NewDisposeScope())
            {
                var flat = input.detach().reshape(-1, input.shape[^1]).to(ScalarType.Float64);
                _sum.add_(matmul(flat.t(), flat));
                _count += flat.shape[0];
            }

            return inner.forward(input);
        }
    }
}
