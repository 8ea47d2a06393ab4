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
    private readonly SequenceBatcher _batcher;
    private readonly int _batchSize;
    private readonly int _sequenceLength;
    private readonly int _vocabularySize;
    private readonly double _maskProbability;
    private readonly Generator _generator;

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

        _model = model;
        _tokenizer = tokenizer;
        _batcher = new SequenceBatcher(sequences, seed);
        _sequenceLength = sequenceLength;
        _vocabularySize = vocabularySize;
        _batchSize = batchSize;
        _maskProbability = maskProbability;
        _generator = new Generator((ulong)seed + 1);
    }

    /// <inheritdoc />
    public override nn.Module Model => _model;

    /// <inheritdoc />
    public override int BatchesPerEpoch => (int)Math.Ceiling(_batcher.Count / (double)_batchSize);

    /// <inheritdoc />
    public override Tensor Loss(int epoch, int batch)
    {
        var ids = tensor(_batcher.Next(_batchSize)).view(_batchSize, _sequenceLength);
        var (inputs, labels) = MaskedLMPretrainer.Mask(ids, _tokenizer, _vocabularySize, _maskProbability, _generator);
        var logits = _model.Forward(inputs);
        return nn.functional.cross_entropy(logits.view(-1, _vocabularySize), labels.view(-1), ignore_index: -100);
    }

    /// <summary>Frees the masking generator.</summary>
    public void Dispose() => _generator.Dispose();
}
