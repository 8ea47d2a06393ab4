using Microsoft.ML.Tokenizers;
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
    /// <summary>GPT-2's printable stand-ins for the 256 byte values (byte-level BPE symbols).</summary>
    private static readonly string[] ByteSymbols = CreateByteSymbols();

    private readonly Tokenizer? _tokenizer;
    private readonly Func<string, IReadOnlyList<int>> _encode;
    private readonly Func<IEnumerable<int>, string> _decode;
    private readonly int[] _prefix;
    private readonly int[] _suffix;

    private TextTokenizer(Tokenizer? tokenizer, Func<string, IReadOnlyList<int>> encode, Func<IEnumerable<int>, string> decode, int padTokenId, int vocabularySize, int[] prefix, int[] suffix, int? maskTokenId)
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

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer; null for the Unigram <c>tokenizer.json</c> form, which PeftSharp segments itself (<see cref="UnigramTokenizer"/>).</summary>
    public Tokenizer? Inner => _tokenizer;

    /// <summary>Loads the tokenizer files of <paramref name="directory"/>, or returns null when it has none.</summary>
    /// <exception cref="ConfigFormatException">A tokenizer file is malformed.</exception>
    public static TextTokenizer? TryLoad(string directory)
    {
        var vocabTxt = Path.Combine(directory, "vocab.txt");
        var vocabJson = Path.Combine(directory, "vocab.json");
        var merges = Path.Combine(directory, "merges.txt");
        var tokenizerJson = Path.Combine(directory, "tokenizer.json");
        var modelType = File.Exists(Path.Combine(directory, ModelConfig.FileName))
            ? ModelConfig.LoadJson(directory).String("model_type")
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

        var sentencePiece = Path.Combine(directory, "spm.model");
        if (File.Exists(sentencePiece))
        {
            using var stream = File.OpenRead(sentencePiece);
            return SentencePiece(stream, sentencePiece);
        }

        return null;
    }

    /// <summary>A BERT WordPiece tokenizer from a <c>vocab.txt</c> stream (one token per line, id = line number).</summary>
    /// <exception cref="ConfigFormatException">The vocabulary is not UTF-8, has an empty line or a carriage return inside a token, or lacks a special token.</exception>
    public static TextTokenizer WordPiece(Stream vocab, bool lowerCase = true, string source = "vocab.txt")
    {
        ArgumentNullException.ThrowIfNull(vocab);
        var tokens = ReadVocabularyLines(vocab, source);
        var size = tokens.Count;
        BertTokenizer bert;
        try
        {
            // The library reads the lines PeftSharp checked, so line i is id i and the size is the line count.
            using var normalized = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', tokens) + "\n"));
            bert = BertTokenizer.Create(normalized, new BertOptions { LowerCaseBeforeTokenization = lowerCase });
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            // Microsoft.ML.Tokenizers reports a missing special token ([UNK], [CLS], ...) with these.
            throw new ConfigFormatException(source, null, $"not a usable WordPiece vocabulary: {e.Message}", e);
        }

        foreach (var (name, id) in new[] { ("[PAD]", bert.PaddingTokenId), ("[UNK]", bert.UnknownTokenId), ("[CLS]", bert.ClassificationTokenId), ("[SEP]", bert.SeparatorTokenId), ("[MASK]", bert.MaskingTokenId) })
        {
            if (id < 0 || id >= size)
            {
                throw new ConfigFormatException(source, null, $"the special token {name} has id {id}, outside the {size}-line vocabulary");
            }
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
            vocabulary = ReadBpeVocabulary(vocabJson, source);
            CheckBpeMerges(mergesTxt, vocabulary);
            bpe = CodeGenTokenizer.Create(new MemoryStream(vocabJson), new MemoryStream(mergesTxt), addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or InvalidCastException or IOException)
        {
            // Microsoft.ML.Tokenizers reports a malformed merges file (a line that is not two symbols) as
            // IOException and a missing or inconsistent token as ArgumentException/InvalidOperationException.
            throw new ConfigFormatException(e is IOException ? "merges.txt" : source, null, $"not a usable byte-level BPE vocabulary: {e.Message.ReplaceLineEndings(" ")}", e);
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
            // Ids the tokenizer emits for its own special tokens (CodeGen's <|endoftext|> is 50256) count too.
            Math.Max(vocabulary.Values.DefaultIfEmpty(-1).Max(), bpe.SpecialTokens?.Values.DefaultIfEmpty(-1).Max() ?? -1) + 1,
            prefix,
            suffix,
            mask);
    }

    /// <summary>
    /// The tokens of a <c>vocab.txt</c>, one per line (a final newline and CRLF line ends allowed).
    /// </summary>
    /// <exception cref="ConfigFormatException">The file is not UTF-8, or a line is empty or holds a carriage return; the message names the line.</exception>
    private static List<string> ReadVocabularyLines(Stream vocab, string source)
    {
        using var copy = new MemoryStream();
        vocab.CopyTo(copy);
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(copy.GetBuffer(), 0, (int)copy.Length);
        }
        catch (DecoderFallbackException e)
        {
            throw new ConfigFormatException(source, null, $"not valid UTF-8: {e.Message}", e);
        }

        var lines = text.Split('\n').ToList();
        if (lines.Count > 1 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i].EndsWith('\r') ? lines[i][..^1] : lines[i];
            if (line.Length == 0 || line.Contains('\r', StringComparison.Ordinal))
            {
                throw new ConfigFormatException($"{source}:{i + 1}", null, line.Length == 0 ? "an empty line (every line is one token; its line number is its id)" : "a carriage return inside a token");
            }

            lines[i] = line;
        }

        return lines;
    }

    /// <summary>The token → id map of a <c>vocab.json</c>: one object of ids from 0 to 2³¹ − 2.</summary>
    /// <exception cref="ConfigFormatException">The file is not such an object.</exception>
    private static Dictionary<string, int> ReadBpeVocabulary(byte[] vocabJson, string source)
    {
        var json = ConfigJson.Parse(vocabJson, source);
        var vocabulary = new Dictionary<string, int>(json.Root.Count, StringComparer.Ordinal);
        foreach (var (token, value) in json.Root)
        {
            vocabulary[token] = value is JsonValue v && v.TryGetValue<int>(out var id) && id is >= 0 and < int.MaxValue
                ? id
                : throw json.Error(token, $"expected a token id from 0 to {int.MaxValue - 1}");
        }

        // Byte-level BPE encodes any text through the 256 byte symbols, so every one must have an id.
        for (var b = 0; b < 256; b++)
        {
            if (!vocabulary.ContainsKey(ByteSymbols[b]))
            {
                throw new ConfigFormatException(source, null, $"the byte-level symbol '{ByteSymbols[b]}' (byte 0x{b:X2}) is missing; a byte-level vocabulary holds all 256");
            }
        }

        return vocabulary;
    }

    /// <summary>
    /// Checks what Microsoft.ML.Tokenizers assumes but does not check (a miss surfaces as
    /// KeyNotFoundException while encoding): every merge is two symbols whose parts and result are in
    /// the vocabulary.
    /// </summary>
    /// <exception cref="ConfigFormatException">A merge line is malformed or names a token the vocabulary lacks; the message names the line.</exception>
    private static void CheckBpeMerges(byte[] mergesTxt, Dictionary<string, int> vocabulary)
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(mergesTxt);
        }
        catch (DecoderFallbackException e)
        {
            throw new ConfigFormatException("merges.txt", null, $"not valid UTF-8: {e.Message}", e);
        }

        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                throw new ConfigFormatException($"merges.txt:{i + 1}", null, "expected two symbols separated by one space");
            }

            foreach (var token in new[] { parts[0], parts[1], parts[0] + parts[1] })
            {
                if (!vocabulary.ContainsKey(token))
                {
                    throw new ConfigFormatException($"merges.txt:{i + 1}", null, $"'{token}' is not in vocab.json");
                }
            }
        }
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

    private static string[] CreateByteSymbols()
    {
        var symbols = new string[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = ((char)(printable ? b : next++)).ToString();
        }

        return symbols;
    }

    private static bool LowerCase(string directory)
    {
        var path = Path.Combine(directory, "tokenizer_config.json");
        return !File.Exists(path) || ConfigJson.Load(path).Bool("do_lower_case", true);
    }

    private static TextTokenizer FromTokenizerJson(string path, bool lowerCase) =>
        FromTokenizerJson(File.ReadAllBytes(path), lowerCase, path);

    /// <summary>
    /// A BERT WordPiece tokenizer from the bytes of a Hugging Face <c>tokenizer.json</c> whose model is
    /// WordPiece (ids 0 … n−1); the normalizer's <c>lowercase</c>, when set, overrides <paramref name="lowerCase"/>.
    /// </summary>
    /// <exception cref="ConfigFormatException">The file is not JSON, its model is not WordPiece, or its vocabulary is malformed.</exception>
    public static TextTokenizer FromTokenizerJson(byte[] tokenizerJson, bool lowerCase = true, string source = "tokenizer.json")
    {
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        var json = ConfigJson.Parse(tokenizerJson, source);
        if (json.Root["model"] is JsonObject { } unigram && unigram["type"] is JsonValue unigramType && unigramType.TryGetValue<string>(out var unigramKind) && unigramKind == "Unigram")
        {
            return Unigram(UnigramTokenizer.FromTokenizerJson(json));
        }

        if (json.Root["model"] is not JsonObject model || model["type"] is not JsonValue type || !type.TryGetValue<string>(out var kind) || kind != "WordPiece" || model["vocab"] is not JsonObject vocab)
        {
            throw json.Error("model", "only WordPiece and Unigram tokenizer.json files are read (use vocab.json + merges.txt for BPE)");
        }

        if (json.Root["normalizer"] is JsonObject normalizer && normalizer["lowercase"] is JsonValue lower && lower.TryGetValue<bool>(out var l))
        {
            lowerCase = l;
        }

        var ordered = vocab.Select(kv => (Token: kv.Key, Id: kv.Value is JsonValue v && v.TryGetValue<int>(out var id) ? id : throw json.Error($"model.vocab.{kv.Key}", "expected an integer id")))
            .Select(t => t.Token.Length > 0 && !t.Token.Contains('\n', StringComparison.Ordinal) && !t.Token.Contains('\r', StringComparison.Ordinal)
                ? t
                : throw json.Error($"model.vocab.{t.Token}", "a token must be non-empty and hold no line break"))
            .OrderBy(t => t.Id).ToList();
        if (ordered.Where((t, i) => t.Id != i).Any())
        {
            throw json.Error("model.vocab", "ids must be 0, 1, …, n−1");
        }

        var text = string.Join('\n', ordered.Select(t => t.Token)) + "\n";
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
        return WordPiece(stream, lowerCase, source);
    }

    /// <summary>
    /// A Unigram (SentencePiece) tokenizer from <c>tokenizer.json</c>, as DeBERTa-v3 ships it: the
    /// post-processor's tokens (<c>[CLS]</c> … <c>[SEP]</c>) wrap each text; padding uses <c>[PAD]</c>
    /// (else <c>&lt;pad&gt;</c>, else id 0) and masking <c>[MASK]</c> (else <c>&lt;mask&gt;</c>).
    /// </summary>
    public static TextTokenizer Unigram(UnigramTokenizer unigram)
    {
        ArgumentNullException.ThrowIfNull(unigram);
        return new TextTokenizer(
            null,
            unigram.Encode,
            unigram.Decode,
            unigram.IdOf("[PAD]") ?? unigram.IdOf("<pad>") ?? 0,
            unigram.VocabularySize,
            [.. unigram.Prefix],
            [.. unigram.Suffix],
            unigram.IdOf("[MASK]") ?? unigram.IdOf("<mask>"));
    }

    /// <summary>
    /// A SentencePiece tokenizer from an <c>spm.model</c> stream (DeBERTa-v2/v3's original file) through
    /// Microsoft.ML.Tokenizers: texts are wrapped in the model's beginning/end pieces (<c>[CLS]</c>/<c>[SEP]</c>
    /// in DeBERTa's model); padding uses the model's <c>[PAD]</c> (else id 0).
    /// </summary>
    /// <exception cref="ConfigFormatException">The stream is not a SentencePiece model.</exception>
    public static TextTokenizer SentencePiece(Stream model, string source = "spm.model")
    {
        ArgumentNullException.ThrowIfNull(model);
        SentencePieceTokenizer spm;
        try
        {
            spm = SentencePieceTokenizer.Create(model, false, false);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or IOException or Google.Protobuf.InvalidProtocolBufferException
            or NullReferenceException or KeyNotFoundException or IndexOutOfRangeException)
        {
            // Microsoft.ML.Tokenizers dereferences the specs of an incomplete model (an empty file
            // parses as a model without trainer or normalizer spec) without checking them.
            throw new ConfigFormatException(source, null, $"not a usable SentencePiece model: {e.Message.ReplaceLineEndings(" ")}", e);
        }

        var vocabulary = spm.Vocabulary;
        int? Id(string token) => vocabulary.TryGetValue(token, out var id) ? id : null;
        return new TextTokenizer(
            spm,
            text => spm.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true),
            ids => spm.Decode(ids, considerSpecialTokens: false),
            Id("[PAD]") ?? Id("<pad>") ?? 0,
            vocabulary.Values.DefaultIfEmpty(-1).Max() + 1,
            [spm.BeginningOfSentenceId],
            [spm.EndOfSentenceId],
            Id("[MASK]") ?? Id("<mask>"));
    }
}
