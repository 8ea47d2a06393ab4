using PeftSharp.Models;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// Masked-LM pretraining (BERT's recipe): batches of packed token sequences, of which
/// <c>maskProbability</c> of the non-special tokens are predicted (80 % [MASK], 10 % a random token,
/// 10 % kept); the loss is the cross-entropy over the predicted tokens. Sequences are drawn in a
/// reshuffled order, one batch after the other, from the task's own random streams, so a run is a
/// function of the seed (but batches are drawn in sequence, not by position).
/// </summary>
public sealed class MaskedLanguageModelingTask : TrainingTask, IDisposable
{
    private readonly PretrainedModel _model;
    private readonly TextTokenizer _tokenizer;
    private readonly IReadOnlyList<long[]> _sequences;
    private readonly int _batchSize;
    private readonly int _sequenceLength;
    private readonly int _vocabularySize;
    private readonly double _maskProbability;
    private readonly Random _random;
    private readonly Generator _generator;
    private readonly int[] _order;
    private int _cursor;

    /// <summary>Creates the task over <paramref name="sequences"/> (each <paramref name="sequenceLength"/> token ids, see <see cref="MaskedLMPretrainer.Pack"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is not a masked LM, or there are no sequences.</exception>
    public MaskedLanguageModelingTask(PretrainedModel model, TextTokenizer tokenizer, IReadOnlyList<long[]> sequences, int sequenceLength, int vocabularySize, int batchSize, double maskProbability, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(sequences);
        if (model.Task != ModelTask.MaskedLanguageModeling)
        {
            throw new ArgumentException($"{model.ArchitectureName} is not a masked LM", nameof(model));
        }

        if (sequences.Count == 0)
        {
            throw new ArgumentException("no sequences to train on (the corpus is shorter than one sequence)", nameof(sequences));
        }

        _model = model;
        _tokenizer = tokenizer;
        _sequences = sequences;
        _sequenceLength = sequenceLength;
        _vocabularySize = vocabularySize;
        _batchSize = batchSize;
        _maskProbability = maskProbability;
        _random = new Random(seed);
        _generator = new Generator((ulong)seed + 1);
        _order = Enumerable.Range(0, sequences.Count).ToArray();
        _cursor = _order.Length;
    }

    /// <inheritdoc />
    public override nn.Module Model => _model;

    /// <inheritdoc />
    public override int BatchesPerEpoch => (int)Math.Ceiling(_sequences.Count / (double)_batchSize);

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        var rows = new long[_batchSize][];
        for (var b = 0; b < _batchSize; b++)
        {
            if (_cursor == _order.Length)
            {
                _random.Shuffle(_order);
                _cursor = 0;
            }

            rows[b] = _sequences[_order[_cursor++]];
        }

        var ids = tensor(rows.SelectMany(r => r).ToArray()).view(_batchSize, _sequenceLength);
        var (inputs, labels) = MaskedLMPretrainer.Mask(ids, _tokenizer, _vocabularySize, _maskProbability, _generator);
        var logits = _model.Forward(inputs);
        return nn.functional.cross_entropy(logits.view(-1, _vocabularySize), labels.view(-1), ignore_index: -100);
    }

    /// <summary>Frees the masking generator.</summary>
    public void Dispose() => _generator.Dispose();
}
