using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>What a <see cref="DistillationTask"/>'s student learns of its teacher.</summary>
public enum DistillationTarget
{
    /// <summary>The full next-token distribution at every position: <c>KL(teacher ‖ student)</c> summed over the vocabulary (metric <c>kl</c>, nats/token).</summary>
    NextTokenDistribution,

    /// <summary>
    /// Every layer's output (transformers' <c>output_hidden_states</c> after the embeddings) at every
    /// position: per layer the mean squared difference divided by the layer's scale, averaged over the
    /// layers (metric <c>hidden_mse</c>). With the scales of <see cref="DistillationTask.HiddenStateScales"/>
    /// (the teacher's change from the base per layer) the base scores 1 and the teacher 0. Decoders only.
    /// </summary>
    HiddenStates,
}

/// <summary>
/// Dense distillation of a causal LM: the student learns, at every position of rows of token ids,
/// the teacher's full next-token distribution or its hidden states (<see cref="DistillationTarget"/>).
/// Rows are drawn in a reshuffled order each epoch (a function of the seed and the epoch, so runs
/// resume exactly). Its evaluation reports the same loss (lower is better) on held-out rows.
/// </summary>
public sealed class DistillationTask : TrainingTask
{
    private readonly PretrainedModel _student;
    private readonly PretrainedModel _teacher;
    private readonly IReadOnlyList<long[]> _train;
    private readonly IReadOnlyList<long[]> _validation;
    private readonly int _batchSize;
    private readonly int _seed;
    private readonly DistillationTarget _target;
    private readonly IReadOnlyList<double>? _scales;
    private (int Epoch, int[] Order)? _order;

    /// <summary>Creates the task: <paramref name="student"/> learns <paramref name="teacher"/>'s <paramref name="target"/> on <paramref name="trainRows"/>.</summary>
    /// <param name="student">The model trained.</param>
    /// <param name="teacher">The model learned from (run without gradients).</param>
    /// <param name="trainRows">Training rows of token ids, all of one length.</param>
    /// <param name="validationRows">Held-out rows the evaluation measures the loss on.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="seed">The seed of the row order.</param>
    /// <param name="target">What the student learns.</param>
    /// <param name="hiddenStateScales">With <see cref="DistillationTarget.HiddenStates"/>: one scale per layer output (<see cref="HiddenStateScales"/>); null: each layer's mean square of the teacher's state.</param>
    /// <exception cref="ArgumentException">There are no training or no validation rows, the rows differ in length, or hidden states are asked of a model that is not a decoder.</exception>
    public DistillationTask(PretrainedModel student, PretrainedModel teacher, IReadOnlyList<long[]> trainRows, IReadOnlyList<long[]> validationRows, int batchSize, int seed,
        DistillationTarget target = DistillationTarget.NextTokenDistribution, IReadOnlyList<double>? hiddenStateScales = null)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(trainRows);
        ArgumentNullException.ThrowIfNull(validationRows);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (trainRows.Count == 0 || validationRows.Count == 0)
        {
            throw new ArgumentException($"distillation needs training and validation rows (got {trainRows.Count} and {validationRows.Count})", nameof(trainRows));
        }

        var length = trainRows[0].Length;
        if (trainRows.Concat(validationRows).FirstOrDefault(r => r.Length != length) is { } odd)
        {
            throw new ArgumentException($"every row must have {length} tokens; one has {odd.Length}", nameof(trainRows));
        }

        if (target == DistillationTarget.HiddenStates && (student is not DecoderForCausalLM || teacher is not DecoderForCausalLM))
        {
            throw new ArgumentException($"hidden-state distillation needs decoders (causal LMs); got {student.ArchitectureName} learning from {teacher.ArchitectureName}", nameof(target));
        }

        (_student, _teacher, _train, _validation, _batchSize, _seed, _target, _scales) = (student, teacher, trainRows, validationRows, batchSize, seed, target, hiddenStateScales);
    }

    /// <inheritdoc />
    public override nn.Module Model => _student;

    /// <inheritdoc />
    public override int BatchesPerEpoch => (int)Math.Ceiling(_train.Count / (double)_batchSize);

    /// <inheritdoc />
    public override IReadOnlyList<string> MetricNames => [MetricName(_target)];

    /// <summary>The metric a target's loss is reported as: <c>kl</c> or <c>hidden_mse</c>.</summary>
    public static string MetricName(DistillationTarget target) => target == DistillationTarget.HiddenStates ? "hidden_mse" : "kl";

    /// <inheritdoc />
    public override bool IsHigherBetter(string metric) => false;

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        if (_order is not { } order || order.Epoch != epoch)
        {
            var shuffled = Enumerable.Range(0, _train.Count).ToArray();
            LengthGroupedBatcher.EpochRandom(_seed, epoch).Shuffle(shuffled);
            order = (epoch, shuffled);
            _order = order;
        }

        var start = batch * _batchSize % _train.Count;
        var rows = Enumerable.Range(start, _batchSize).Select(i => _train[order.Order[i % _train.Count]]).ToList();
        return Loss(_target, _teacher, _student, Stack(rows), _scales);
    }

    /// <inheritdoc />
    public override Evaluation Evaluate(IProgress<TrainingProgress>? progress = null)
    {
        var loss = MeanLoss(_target, _teacher, _student, _validation, _batchSize, _scales);
        return new Evaluation(0, loss, new Dictionary<string, double> { [MetricName(_target)] = loss });
    }

    /// <summary>The distillation loss of <paramref name="student"/> against <paramref name="teacher"/> (run without gradients) on <paramref name="ids"/>.</summary>
    /// <param name="target">What the student learns.</param>
    /// <param name="teacher">The teacher.</param>
    /// <param name="student">The student.</param>
    /// <param name="ids">Token ids <c>(batch, T)</c>.</param>
    /// <param name="hiddenStateScales">Per-layer scales of the hidden-state loss (<see cref="HiddenStateScales"/>); null: the teacher's mean square per layer.</param>
    public static Tensor Loss(DistillationTarget target, PretrainedModel teacher, PretrainedModel student, Tensor ids, IReadOnlyList<double>? hiddenStateScales = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        if (target == DistillationTarget.NextTokenDistribution)
        {
            Tensor teacherLogits;
            using (no_grad())
            {
                teacherLogits = teacher.Forward(ids);
            }

            return Kl(teacherLogits, student.Forward(ids));
        }

        using var scope = NewDisposeScope();
        IReadOnlyList<Tensor> expected;
        using (no_grad())
        {
            expected = ((DecoderForCausalLM)teacher).HiddenStates(ids);
        }

        return HiddenStateError(expected, ((DecoderForCausalLM)student).HiddenStates(ids), hiddenStateScales).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The <see cref="DistillationTarget.HiddenStates"/> loss over every layer's output (the states after
    /// the first, the embeddings, which no adapter changes): <c>mean((s − t)²) / scale</c> per layer,
    /// averaged over the layers; without <paramref name="scales"/> the scale is the layer's <c>mean(t²)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length, have fewer than 2 states, or the scales do not give one positive value per layer output.</exception>
    public static Tensor HiddenStateError(IReadOnlyList<Tensor> teacher, IReadOnlyList<Tensor> student, IReadOnlyList<double>? scales = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        if (teacher.Count != student.Count || teacher.Count < 2)
        {
            throw new ArgumentException($"teacher and student must give the same number (≥ 2) of hidden states; got {teacher.Count} and {student.Count}", nameof(student));
        }

        if (scales is not null && (scales.Count != teacher.Count - 1 || scales.Any(v => !(v > 0) || double.IsInfinity(v))))
        {
            throw new ArgumentException($"expected {teacher.Count - 1} positive finite scales (one per layer output), got [{string.Join(", ", scales)}]", nameof(scales));
        }

        using var scope = NewDisposeScope();
        var total = zeros(1, dtype: ScalarType.Float32, device: student[0].device).squeeze();
        for (var i = 1; i < teacher.Count; i++)
        {
            var t = teacher[i].to(ScalarType.Float32);
            var error = (student[i].to(ScalarType.Float32) - t).square().mean();
            total = total + (scales is null ? error / t.square().mean().clamp_min(1e-12) : error / scales[i - 1]);
        }

        return (total / (teacher.Count - 1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per layer output, <c>mean((teacher − reference)²)</c> over <paramref name="rows"/>: the scales that make
    /// the hidden-state loss the share of the teacher's change from <paramref name="reference"/> (the base
    /// the student starts from) still missing — 1 for the reference itself, 0 for the teacher. Layers the
    /// teacher does not change get the scale of the smallest change, so they still count.
    /// </summary>
    /// <exception cref="ArgumentException">No rows, or the teacher does not differ from the reference at all.</exception>
    public static double[] HiddenStateScales(DecoderForCausalLM teacher, DecoderForCausalLM reference, IReadOnlyList<long[]> rows, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            throw new ArgumentException("the hidden-state scales need rows", nameof(rows));
        }

        using var noGrad = no_grad();
        double[]? sums = null;
        foreach (var chunk in rows.Chunk(batchSize))
        {
            using var scope = NewDisposeScope();
            var ids = Stack(chunk);
            var (t, r) = (teacher.HiddenStates(ids), reference.HiddenStates(ids));
            sums ??= new double[t.Count - 1];
            for (var i = 1; i < t.Count; i++)
            {
                sums[i - 1] += (t[i].to(ScalarType.Float32) - r[i].to(ScalarType.Float32)).square().mean().item<float>() * chunk.Length;
            }
        }

        var scales = sums!.Select(v => v / rows.Count).ToArray();
        var smallest = scales.Where(v => v > 0).DefaultIfEmpty(0).Min();
        if (smallest <= 0)
        {
            throw new ArgumentException("the teacher's hidden states equal the reference's: there is nothing to distil", nameof(teacher));
        }

        return [.. scales.Select(v => v > 0 ? v : smallest)];
    }

    /// <summary>
    /// <c>KL(teacher ‖ student)</c> in nats, summed over the vocabulary (last dimension) and averaged
    /// over every other position, computed from logits in float32.
    /// </summary>
    public static Tensor Kl(Tensor teacherLogits, Tensor studentLogits)
    {
        ArgumentNullException.ThrowIfNull(teacherLogits);
        ArgumentNullException.ThrowIfNull(studentLogits);
        using var scope = NewDisposeScope();
        var teacher = nn.functional.log_softmax(teacherLogits.to(ScalarType.Float32), -1);
        var student = nn.functional.log_softmax(studentLogits.to(ScalarType.Float32), -1);
        return (teacher.exp() * (teacher - student)).sum(-1).mean().MoveToOuterDisposeScope();
    }

    /// <summary>The mean distillation loss of <paramref name="model"/> against <paramref name="teacher"/> over <paramref name="rows"/>, in eval mode without gradients (the model's mode is restored).</summary>
    public static double MeanLoss(DistillationTarget target, PretrainedModel teacher, PretrainedModel model, IReadOnlyList<long[]> rows, int batchSize, IReadOnlyList<double>? hiddenStateScales = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(rows);
        var training = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            double sum = 0;
            foreach (var chunk in rows.Chunk(batchSize))
            {
                using var scope = NewDisposeScope();
                var ids = Stack(chunk);
                sum += Loss(target, teacher, model, ids, hiddenStateScales).item<float>() * chunk.Length;
            }

            return sum / rows.Count;
        }
        finally
        {
            model.train(training);
        }
    }

    private static Tensor Stack(IReadOnlyList<long[]> rows) => tensor(rows.SelectMany(r => r).ToArray()).view(rows.Count, rows[0].Length);
}
