using PeftSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>
/// Autoregressive generation for <see cref="DecoderForCausalLM"/>: batched prompts left-padded with
/// positions from the attention mask, a preallocated KV cache, greedy or seeded sampling (temperature,
/// top-k, top-p), repetition penalty, and stopping at end-of-sequence ids or stop strings.
/// </summary>
public static class DecoderGenerator
{
    /// <summary>
    /// Continues every prompt and returns the new token ids of each (an end-of-sequence id that
    /// stopped it included), in order.
    /// </summary>
    /// <param name="model">The model (with or without adapters).</param>
    /// <param name="prompts">Token ids of each prompt (non-empty).</param>
    /// <param name="options">Generation settings.</param>
    /// <param name="decode">Turns ids into text, for <see cref="GenerationOptions.StopStrings"/>; null: stop strings are not checked.</param>
    /// <param name="onToken">Called with (record index, id) for every new token as it is chosen, for streaming.</param>
    public static List<long[]> Generate(DecoderForCausalLM model, IReadOnlyList<long[]> prompts, GenerationOptions options, Func<IReadOnlyList<long>, string>? decode = null, Action<int, long>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (prompts.Any(p => p.Length == 0))
        {
            throw new ArgumentException("every prompt needs at least one token", nameof(prompts));
        }

        model.eval();
        var generator = new Generator(options.Seed ?? (ulong)Random.Shared.NextInt64());
        var results = new List<long[]>(prompts.Count);
        for (var start = 0; start < prompts.Count; start += options.BatchSize)
        {
            var batch = prompts.Skip(start).Take(options.BatchSize).ToList();
            var first = start;
            results.AddRange(GenerateBatch(model, batch, options, generator, decode, onToken is null ? null : (b, id) => onToken(first + b, id)));
        }

        return results;
    }

    private static List<long[]> GenerateBatch(DecoderForCausalLM model, List<long[]> prompts, GenerationOptions options, Generator generator, Func<IReadOnlyList<long>, string>? decode, Action<int, long>? onToken)
    {
        var outputs = prompts.Select(_ => new List<long>()).ToList();
        if (options.MaxNewTokens == 0)
        {
            return outputs.Select(o => o.ToArray()).ToList();
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var eos = (options.EosTokenIds ?? model.EosTokenIds).Select(id => (long)id).ToHashSet();
        long pad = model.Decoder.PadTokenId ?? (eos.Count > 0 ? eos.First() : 0);
        var (batch, length) = (prompts.Count, prompts.Max(p => p.Length));
        var device = model.Backbone.TokenEmbeddings.device;
        var ids = new long[batch * length];
        var maskValues = new long[batch * length];
        for (var b = 0; b < batch; b++)
        {
            var offset = (b * length) + length - prompts[b].Length;
            Array.Fill(ids, pad, b * length, length - prompts[b].Length);
            prompts[b].CopyTo(ids, offset);
            Array.Fill(maskValues, 1L, offset, prompts[b].Length);
        }

        var sequence = tensor(ids, dtype: ScalarType.Int64, device: device).view(batch, length);
        var mask = tensor(maskValues, dtype: ScalarType.Int64, device: device).view(batch, length);
        using var cache = options.UseCache ? model.CreateCache(batch, length + options.MaxNewTokens) : null;
        Tensor? seen = null;
        if (options.RepetitionPenalty != 1.0)
        {
            var vocabulary = model.Decoder.VocabSize;
            var seenValues = new bool[batch * vocabulary];
            for (var b = 0; b < batch; b++)
            {
                foreach (var id in prompts[b].Where(id => id >= 0 && id < vocabulary))
                {
                    seenValues[(b * vocabulary) + id] = true;
                }
            }

            seen = tensor(seenValues, device: device).view(batch, vocabulary);
        }

        var finished = new bool[batch];
        var logits = Step(model, sequence, mask, cache);

        // Batch-1 steps with the cache apply every weight to one row: the row kernel takes libtorch's threads.
        using var threads = batch == 1 && cache is not null && device.type == DeviceType.CPU ? RowLinear.LendThreads() : null;
        for (var step = 0; ; step++)
        {
            using var stepScope = NewDisposeScope();
            var next = Choose(logits, seen, options, generator).cpu().data<long>().ToArray();
            for (var b = 0; b < batch; b++)
            {
                if (finished[b])
                {
                    continue;
                }

                outputs[b].Add(next[b]);
                onToken?.Invoke(b, next[b]);
                finished[b] = eos.Contains(next[b]) ||
                    (decode is not null && options.StopStrings.Count > 0 && options.StopStrings.Any(decode(outputs[b]).Contains));
            }

            if (finished.All(f => f) || step + 1 == options.MaxNewTokens)
            {
                break;
            }

            var feed = tensor(next.Select((id, b) => finished[b] ? pad : id).ToArray(), dtype: ScalarType.Int64, device: device).view(batch, 1);
            mask = Keep(mask, cat([mask, ones(batch, 1, dtype: ScalarType.Int64, device: device)], 1));
            seen?.scatter_(1, feed, ones_like(feed, dtype: ScalarType.Bool));
            if (cache is null)
            {
                sequence = Keep(sequence, cat([sequence, feed], 1));
                logits = Keep(logits, Step(model, sequence, mask, null));
            }
            else
            {
                logits = Keep(logits, Step(model, feed, mask, cache));
            }
        }

        return outputs.Select(o => o.ToArray()).ToList();
    }

    /// <summary>Moves <paramref name="replacement"/> out of the step's scope and disposes <paramref name="old"/>.</summary>
    private static Tensor Keep(Tensor old, Tensor replacement)
    {
        replacement.MoveToOuterDisposeScope();
        old.Dispose();
        return replacement;
    }

    /// <summary>Last-position logits <c>(batch, vocab)</c> in float32.</summary>
    private static Tensor Step(DecoderForCausalLM model, Tensor inputIds, Tensor mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var logits = model.Forward(inputIds, mask, positionIds: null, cache, lastPositionOnly: true);
        return logits.squeeze(1).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The next token of every row: repetition penalty, then argmax, or temperature, top-k, top-p and a draw.</summary>
    internal static Tensor Choose(Tensor logits, Tensor? seen, GenerationOptions options, Generator generator)
    {
        using var scope = NewDisposeScope();
        var scores = logits;
        if (seen is not null)
        {
            var penalty = options.RepetitionPenalty;
            scores = where(seen, where(scores.lt(0), scores * penalty, scores / penalty), scores);
        }

        if (!options.DoSample)
        {
            return scores.argmax(-1).MoveToOuterDisposeScope();
        }

        if (options.Temperature != 1.0)
        {
            scores = scores / options.Temperature;
        }

        var vocabulary = scores.shape[^1];
        if (options.TopK > 0 && options.TopK < vocabulary)
        {
            var kth = scores.topk(options.TopK).values.narrow(-1, options.TopK - 1, 1);
            scores = scores.masked_fill(scores.lt(kth), double.NegativeInfinity);
        }

        if (options.TopP < 1.0)
        {
            var (sorted, order) = scores.sort(-1, descending: false);
            var remove = sorted.softmax(-1).cumsum(-1).le(1 - options.TopP);
            remove.narrow(-1, vocabulary - 1, 1).fill_(false);
            scores = scores.masked_fill(remove.scatter(-1, order, remove), double.NegativeInfinity);
        }

        var choice = multinomial(scores.softmax(-1), 1, generator: generator).squeeze(-1);
        return choice.MoveToOuterDisposeScope();
    }
}
