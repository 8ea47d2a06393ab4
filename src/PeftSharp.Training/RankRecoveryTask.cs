using System.Text.Json.Nodes;
using PeftSharp.Adapters;
using PeftSharp.IO;
using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// The synthetic rank-recovery task: a teacher is the base classifier plus low-rank updates of
/// known, different ranks in chosen modules (some zero); the student learns the teacher's labels on
/// real texts. The truth (ranks, the updates and the shared classifier head) is saved so that a
/// benchmark can score how well a method's rank allocation recovers it.
/// </summary>
public static class RankRecoveryTask
{
    /// <summary>The ranks assigned to target modules in turn (the zeros are modules the teacher leaves alone).</summary>
    public static IReadOnlyList<int> RankCycle { get; } = [0, 1, 4, 2, 8, 0, 2, 6];

    /// <summary>
    /// Builds the task in <paramref name="outputDirectory"/>: <c>truth.json</c> (module → rank, seed,
    /// labels), <c>teacher_deltas.safetensors</c> (each module's ΔW), <c>head.safetensors</c> (the
    /// classifier and pooler both teacher and student use) and <c>train/validation/test.jsonl</c>
    /// with the teacher's labels and logits for <paramref name="texts"/> (split 70/15/15 in order).
    /// </summary>
    /// <returns>The true rank of every target module.</returns>
    public static IReadOnlyDictionary<string, int> Generate(string baseDirectory, IReadOnlyList<string> texts, string outputDirectory, TargetModules targets, int labelCount = 4, int seed = 0, double deltaScale = 1.0)
    {
        var labels = Enumerable.Range(0, labelCount).Select(i => $"class_{i}").ToList();
        manual_seed(seed);
        var teacher = PretrainedModel.ForSequenceClassification(baseDirectory, labels, out _);
        var tokenizer = TextTokenizer.TryLoad(baseDirectory) ?? throw new PeftException($"{baseDirectory} has no tokenizer");
        var probe = PeftModel.Create(teacher, new Methods.Lora.LoraConfig { TargetModules = targets, InferenceMode = true });
        var names = probe.AdaptedModules.Select(m => m.Name).ToList();
        var plain = probe.Unload();
        var generator = new Generator((ulong)seed + 17);
        var truth = new Dictionary<string, int>(StringComparer.Ordinal);
        var deltas = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (no_grad())
        {
            var state = plain.state_dict();
            for (var i = 0; i < names.Count; i++)
            {
                var rank = RankCycle[i % RankCycle.Count];
                truth[names[i]] = rank;
                var weight = state[names[i] + ".weight"];
                var (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1]);
                var delta = rank == 0
                    ? zeros(outFeatures, inFeatures)
                    : matmul(randn(outFeatures, rank, generator: generator), randn(rank, inFeatures, generator: generator)) * (deltaScale * weight.std().item<float>() / Math.Sqrt(rank));
                weight.add_(delta);
                deltas[names[i]] = delta;
            }
        }

        Directory.CreateDirectory(outputDirectory);
        SafetensorsWriter.Save(Path.Combine(outputDirectory, "teacher_deltas.safetensors"), deltas);
        var head = plain.state_dict().Where(kv => kv.Key.StartsWith("classifier.", StringComparison.Ordinal) || kv.Key.Contains(".pooler.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        SafetensorsWriter.Save(Path.Combine(outputDirectory, "head.safetensors"), head);
        var records = new List<JsonObject>();
        using (no_grad())
        {
            plain.eval();
            for (var start = 0; start < texts.Count; start += 32)
            {
                using var scope = NewDisposeScope();
                var slice = texts.Skip(start).Take(32).ToList();
                using var batch = tokenizer.EncodeBatch(slice, 128);
                var logits = teacher.Forward(batch.InputIds, batch.AttentionMask);
                for (var i = 0; i < slice.Count; i++)
                {
                    var row = logits[i].data<float>().ToArray();
                    records.Add(new JsonObject
                    {
                        ["text"] = slice[i],
                        ["label"] = labels[Array.IndexOf(row, row.Max())],
                        ["teacher_logits"] = new JsonArray([.. row.Select(v => (JsonNode?)(double)v)]),
                    });
                }
            }
        }

        var splits = new[] { ("train", 0, (int)(0.7 * records.Count)), ("validation", (int)(0.7 * records.Count), (int)(0.85 * records.Count)), ("test", (int)(0.85 * records.Count), records.Count) };
        foreach (var (split, from, to) in splits)
        {
            AtomicFile.WriteAllText(Path.Combine(outputDirectory, $"{split}.jsonl"), string.Concat(records.Skip(from).Take(to - from).Select(r => r.ToJsonString() + "\n")));
        }

        var truthJson = new JsonObject
        {
            ["base"] = Path.GetFullPath(baseDirectory),
            ["seed"] = seed,
            ["delta_scale"] = deltaScale,
            ["labels"] = new JsonArray([.. labels.Select(l => (JsonNode?)l)]),
            ["ranks"] = new JsonObject(truth.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "truth.json"), truthJson.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
        return truth;
    }

    /// <summary>A student for the task in <paramref name="taskDirectory"/>: the base classifier with the teacher's head copied in.</summary>
    public static PretrainedModel Student(string baseDirectory, string taskDirectory)
    {
        var truth = ConfigJson.Load(Path.Combine(taskDirectory, "truth.json"));
        var labels = truth.Strings("labels") ?? throw truth.Error("labels", "missing");
        var student = PretrainedModel.ForSequenceClassification(baseDirectory, labels, out _);
        ModelWeights.Load(student, Path.Combine(taskDirectory, "head.safetensors"), strict: false);
        return student;
    }
}
