using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using PeftSharp.IO;
using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>A padded batch: ids, attention mask (1 real, 0 padding), all <c>(batch, T)</c> int64.</summary>
/// <param name="InputIds">Token ids.</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding.</param>
public sealed record TokenizedBatch(Tensor InputIds, Tensor AttentionMask) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
    }
}

/// <summary>The ids of one text.</summary>
/// <param name="InputIds">Token ids, special tokens included.</param>
public sealed record TokenizedText(long[] InputIds);

/// <summary>
/// The tokenizer of a Hugging Face model directory, through Microsoft.ML.Tokenizers: BERT
/// WordPiece (<c>vocab.txt</c>, or <c>tokenizer.json</c> with a WordPiece model) and byte-level BPE
/// for GPT-2 and RoBERTa (<c>vocab.json</c> + <c>merges.txt</c>).
/// </summary>
public sealed class TextTokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly Func<string, IReadOnlyList<int>> _encode;
    private readonly Func<IEnumerable<int>, string> _decode;
    private readonly int[] _prefix;
    private readonly int[] _suffix;

    private TextTokenizer(Tokenizer tokenizer, Func<string, IReadOnlyList<int>> encode, Func<IEnumerable<int>, string> decode, int padTokenId, int vocabularySize, int[] prefix, int[] suffix, int? maskTokenId)
    {
        _tokenizer = tokenizer;
        _encode = encode;
        _decode = decode;
        PadTokenId = padTokenId;
        VocabularySize = vocabularySize;
        _prefix = prefix;
        _suffix = suffix;
        MaskTokenId = maskTokenId;
    }

    /// <summary>The padding id.</summary>
    public int PadTokenId { get; }

    /// <summary>The mask id for masked-LM (<c>[MASK]</c>/<c>&lt;mask&gt;</c>), or null.</summary>
    public int? MaskTokenId { get; }

    /// <summary>Vocabulary size.</summary>
    public int VocabularySize { get; }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer.</summary>
    public Tokenizer Inner => _tokenizer;

    /// <summary>Loads the tokenizer files of <paramref name="directory"/>, or returns null when it has none.</summary>
    /// <exception cref="ConfigFormatException">A tokenizer file is malformed.</exception>
    public static TextTokenizer? TryLoad(string directory)
    {
        var vocabTxt = Path.Combine(directory, "vocab.txt");
        var vocabJson = Path.Combine(directory, "vocab.json");
        var merges = Path.Combine(directory, "merges.txt");
        var tokenizerJson = Path.Combine(directory, "tokenizer.json");
        var modelType = File.Exists(Path.Combine(directory, ModelConfig.FileName))
            ? ModelConfig.LoadJson(directory).Root["model_type"]?.GetValue<string>()
            : null;
        var lowerCase = LowerCase(directory);
        if (File.Exists(vocabTxt))
        {
            using var stream = File.OpenRead(vocabTxt);
            return WordPiece(stream, lowerCase, vocabTxt);
        }

        if (File.Exists(vocabJson) && File.Exists(merges))
        {
            return ByteLevelBpe(File.ReadAllBytes(vocabJson), File.ReadAllBytes(merges), modelType == "roberta", vocabJson);
        }

        if (File.Exists(tokenizerJson))
        {
            return FromTokenizerJson(tokenizerJson, lowerCase);
        }

        return null;
    }

    /// <summary>A BERT WordPiece tokenizer from a <c>vocab.txt</c> stream (one token per line, id = line number).</summary>
    public static TextTokenizer WordPiece(Stream vocab, bool lowerCase = true, string source = "vocab.txt")
    {
        BertTokenizer bert;
        int size;
        try
        {
            using var copy = new MemoryStream();
            vocab.CopyTo(copy);
            size = Encoding.UTF8.GetString(copy.ToArray()).Split('\n').Count(line => line.Trim().Length > 0);
            copy.Position = 0;
            bert = BertTokenizer.Create(copy, new BertOptions { LowerCaseBeforeTokenization = lowerCase });
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new ConfigFormatException(source, null, $"not a usable WordPiece vocabulary: {e.Message}", e);
        }

        return new TextTokenizer(
            bert,
            text => bert.EncodeToIds(text, addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true),
            ids => bert.Decode(ids, skipSpecialTokens: true),
            bert.PaddingTokenId,
            size,
            [bert.ClassificationTokenId],
            [bert.SeparatorTokenId],
            bert.MaskingTokenId);
    }

    /// <summary>
    /// A byte-level BPE tokenizer (GPT-2, RoBERTa) from <c>vocab.json</c> and <c>merges.txt</c> bytes.
    /// RoBERTa wraps texts in <c>&lt;s&gt;</c> … <c>&lt;/s&gt;</c> and pads with <c>&lt;pad&gt;</c>; GPT-2 adds
    /// nothing and pads with <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    public static TextTokenizer ByteLevelBpe(byte[] vocabJson, byte[] mergesTxt, bool roberta, string source = "vocab.json")
    {
        CodeGenTokenizer bpe;
        Dictionary<string, int> vocabulary;
        try
        {
            vocabulary = JsonNode.Parse(vocabJson)!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>());
            bpe = CodeGenTokenizer.Create(new MemoryStream(vocabJson), new MemoryStream(mergesTxt), addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or FormatException or InvalidOperationException or InvalidCastException or NullReferenceException)
        {
            throw new ConfigFormatException(source, null, $"not a usable byte-level BPE vocabulary: {e.Message}", e);
        }

        int Id(string token, int fallback) => vocabulary.TryGetValue(token, out var id) ? id : fallback;
        var endOfText = Id("<|endoftext|>", 0);
        int[] prefix = roberta ? [Id("<s>", 0)] : [];
        int[] suffix = roberta ? [Id("</s>", 2)] : [];
        var pad = roberta ? Id("<pad>", 1) : endOfText;
        int? mask = roberta && vocabulary.TryGetValue("<mask>", out var m) ? m : null;
        return new TextTokenizer(
            bpe,
            text => bpe.EncodeToIds(text, addPrefixSpace: false, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true),
            ids => bpe.Decode(ids, hasPrefixSpace: false, considerSpecialTokens: false),
            pad,
            vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1,
            prefix,
            suffix,
            mask);
    }

    /// <summary>Token ids of <paramref name="text"/>, with the model's special tokens (<c>[CLS]</c>/<c>[SEP]</c>, <c>&lt;s&gt;</c>/<c>&lt;/s&gt;</c>).</summary>
    public TokenizedText Encode(string text, int? maxLength = null)
    {
        var body = _encode(text);
        var room = maxLength is { } max ? Math.Max(0, max - _prefix.Length - _suffix.Length) : int.MaxValue;
        var ids = _prefix.Concat(body.Take(room)).Concat(_suffix).Select(i => (long)i).ToArray();
        return new TokenizedText(ids);
    }

    /// <summary>Encodes <paramref name="texts"/> and pads them (right) to the longest, at most <paramref name="maxLength"/> tokens.</summary>
    public TokenizedBatch EncodeBatch(IReadOnlyList<string> texts, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        var encoded = texts.Select(t => Encode(t, maxLength).InputIds).ToList();
        return Pad(encoded, PadTokenId);
    }

    /// <summary>Right-pads id sequences with <paramref name="padTokenId"/> into a batch with an attention mask.</summary>
    public static TokenizedBatch Pad(IReadOnlyList<long[]> sequences, long padTokenId)
    {
        var length = Math.Max(1, sequences.Max(s => s.Length));
        var ids = new long[sequences.Count * length];
        var mask = new long[sequences.Count * length];
        for (var i = 0; i < sequences.Count; i++)
        {
            for (var j = 0; j < length; j++)
            {
                var real = j < sequences[i].Length;
                ids[i * length + j] = real ? sequences[i][j] : padTokenId;
                mask[i * length + j] = real ? 1 : 0;
            }
        }

        return new TokenizedBatch(tensor(ids).view(sequences.Count, length), tensor(mask).view(sequences.Count, length));
    }

    /// <summary>Text of <paramref name="ids"/>, special tokens dropped.</summary>
    public string Decode(IEnumerable<long> ids) =>
        _decode(ids.Select(i => (int)i).Where(i => !_prefix.Contains(i) && !_suffix.Contains(i) && i != PadTokenId));

    private static bool LowerCase(string directory)
    {
        var path = Path.Combine(directory, "tokenizer_config.json");
        return !File.Exists(path) || ConfigJson.Load(path).Bool("do_lower_case", true);
    }

    private static TextTokenizer FromTokenizerJson(string path, bool lowerCase)
    {
        var json = ConfigJson.Load(path);
        if (json.Root["model"] is not JsonObject model || model["type"]?.GetValue<string>() != "WordPiece" || model["vocab"] is not JsonObject vocab)
        {
            throw json.Error("model", "only WordPiece tokenizer.json files are read (use vocab.json + merges.txt for BPE)");
        }

        if (json.Root["normalizer"] is JsonObject normalizer && normalizer["lowercase"] is JsonValue lower && lower.TryGetValue<bool>(out var l))
        {
            lowerCase = l;
        }

        var ordered = vocab.Select(kv => (Token: kv.Key, Id: kv.Value is JsonValue v && v.TryGetValue<int>(out var id) ? id : throw json.Error($"model.vocab.{kv.Key}", "expected an integer id")))
            .OrderBy(t => t.Id).ToList();
        if (ordered.Where((t, i) => t.Id != i).Any())
        {
            throw json.Error("model.vocab", "ids must be 0, 1, …, n−1");
        }

        var text = string.Join('\n', ordered.Select(t => t.Token)) + "\n";
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
        return WordPiece(stream, lowerCase, path);
    }
}
