using PeftSharp.Models;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// Dense distillation of a causal LM: the student learns the teacher's full next-token distribution
/// at every position of rows of token ids, with the loss <c>KL(teacher ‖ student)</c> summed over the
/// vocabulary and averaged over every position. Rows are drawn in a reshuffled order each epoch
/// (a function of the seed and the epoch, so runs resume exactly). Its evaluation reports the same
/// KL (<c>kl</c>, lower is better) on held-out rows.
/// </summary>
public sealed class DistillationTask : TrainingTask
{
    private readonly PretrainedModel _student;
    private readonly PretrainedModel _teacher;
    private readonly IReadOnlyList<long[]> _train;
    private readonly IReadOnlyList<long[]> _validation;
    private readonly int _batchSize;
    private readonly int _seed;
    private (int Epoch, int[] Order)? _order;

    /// <summary>Creates the task: <paramref name="student"/> learns <paramref name="teacher"/>'s distributions on <paramref name="trainRows"/>.</summary>
    /// <exception cref="ArgumentException">There are no training or no validation rows, or the rows differ in length.</exception>
    public DistillationTask(PretrainedModel student, PretrainedModel teacher, IReadOnlyList<long[]> trainRows, IReadOnlyList<long[]> validationRows, int batchSize, int seed)
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

        (_student, _teacher, _train, _validation, _batchSize, _seed) = (student, teacher, trainRows, validationRows, batchSize, seed);
    }

    /// <inheritdoc />
    public override nn.Module Model => _student;

    /// <inheritdoc />
    public override int BatchesPerEpoch => (int)Math.Ceiling(_train.Count / (double)_batchSize);

    /// <inheritdoc />
    public override IReadOnlyList<string> MetricNames => ["kl"];

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
        var ids = Stack(rows);
        Tensor teacherLogits;
        using (no_grad())
        {
            teacherLogits = _teacher.Forward(ids);
        }

        return Kl(teacherLogits, _student.Forward(ids));
    }

    /// <inheritdoc />
    public override Evaluation Evaluate(IProgress<TrainingProgress>? progress = null)
    {
        var kl = MeanKl(_teacher, _student, _validation, _batchSize);
        return new Evaluation(0, kl, new Dictionary<string, double> { ["kl"] = kl });
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

    /// <summary>The mean per-position <c>KL(teacher ‖ model)</c> over <paramref name="rows"/>, in eval mode without gradients (the model's mode is restored).</summary>
    public static double MeanKl(PretrainedModel teacher, PretrainedModel model, IReadOnlyList<long[]> rows, int batchSize)
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
                sum += Kl(teacher.Forward(ids), model.Forward(ids)).item<float>() * chunk.Length;
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
