using PeftSharp.Models;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// Causal-LM pretraining: batches of packed token sequences (documents joined by an end-of-text
/// token, cut into rows of equal length, see <see cref="CausalLMPretrainer.Pack"/>), every position
/// supervised with the next-token loss (<see cref="CausalLmLoss"/>). Sequences are drawn in a
/// reshuffled order, batch after batch, from the task's own random stream, so a run is a function
/// of the seed.
/// </summary>
public sealed class CausalLanguageModelingTask : TrainingTask
{
    private readonly PretrainedModel _model;
    private readonly SequenceBatcher _batcher;
    private readonly int _batchSize;
    private readonly int _sequenceLength;

    /// <summary>Creates the task over <paramref name="sequences"/>, each <paramref name="sequenceLength"/> token ids.</summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is not a causal LM, there are no sequences, or one has another length.</exception>
    public CausalLanguageModelingTask(PretrainedModel model, IReadOnlyList<long[]> sequences, int sequenceLength, int batchSize, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (model.Task != ModelTask.CausalLanguageModeling)
        {
            throw new ArgumentException($"{model.ArchitectureName} is not a causal LM", nameof(model));
        }

        if (sequences.FirstOrDefault(s => s.Length != sequenceLength) is { } odd)
        {
            throw new ArgumentException($"every sequence must have {sequenceLength} tokens; one has {odd.Length}", nameof(sequences));
        }

        _model = model;
        _batcher = new SequenceBatcher(sequences, seed);
        _batchSize = batchSize;
        _sequenceLength = sequenceLength;
    }

    /// <inheritdoc />
    public override nn.Module Model => _model;

    /// <inheritdoc />
    public override int BatchesPerEpoch => (int)Math.Ceiling(_batcher.Count / (double)_batchSize);

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        var ids = tensor(_batcher.Next(_batchSize)).view(_batchSize, _sequenceLength);
        return CausalLmLoss.Compute(_model.Forward(ids), ids);
    }

    /// <summary>
    /// The mean next-token loss of <paramref name="model"/> over <paramref name="sequences"/> (every
    /// position after the first of each row predicted), in eval mode without gradients, and its
    /// perplexity <c>exp(loss)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">There are no sequences.</exception>
    public static (double Loss, double Perplexity) Validate(PretrainedModel model, IReadOnlyList<long[]> sequences, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            throw new ArgumentException("no validation sequences", nameof(sequences));
        }

        var training = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            double sum = 0;
            long count = 0;
            foreach (var chunk in sequences.Chunk(batchSize))
            {
                using var scope = NewDisposeScope();
                var ids = tensor(chunk.SelectMany(r => r).ToArray()).view(chunk.Length, chunk[0].Length);
                var (total, supervised) = CausalLmLoss.Sum(model.Forward(ids), ids);
                sum += total.item<float>();
                count += supervised;
            }

            var loss = sum / count;
            return (loss, Math.Exp(loss));
        }
        finally
        {
            model.train(training);
        }
    }
}
