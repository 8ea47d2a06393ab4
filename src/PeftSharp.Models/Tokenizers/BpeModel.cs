namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// The BPE <c>model</c> of a tokenizer.json: vocabulary, ranked merges, unknown token, byte fallback
/// (<c>&lt;0xNN&gt;</c> tokens for characters outside the vocabulary), <c>fuse_unk</c> and
/// <c>ignore_merges</c>. A word is merged with a priority queue over adjacent pairs (lowest rank, then
/// leftmost first, as Hugging Face's Rust library), O(n log n) in the word's length.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>The largest id accepted in a vocabulary (2^24; real vocabularies hold under 300,000).</summary>
    public const int MaxId = 1 << 24;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _tokens;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int? _unkId;
    private readonly bool _fuseUnk;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int[]? _byteIds;

    private BpeModel(Dictionary<string, int> vocab, Dictionary<int, string> tokens, Dictionary<long, (int, int)> merges, int? unkId, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        _tokens = tokens;
        _merges = merges;
        _unkId = unkId;
        _fuseUnk = fuseUnk;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        if (byteFallback)
        {
            _byteIds = new int[256];
            for (var b = 0; b < 256; b++)
            {
                _byteIds[b] = vocab.TryGetValue(ByteToken((byte)b), out var id) ? id : -1;
            }
        }
    }

    /// <summary>One more than the largest id of the vocabulary.</summary>
    public int Size => _tokens.Count == 0 ? 0 : _tokens.Keys.Max() + 1;

    /// <summary>The id of <paramref name="token"/> in the vocabulary, or null.</summary>
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>The token of <paramref name="id"/>, or null.</summary>
    public string? IdToToken(int id) => _tokens.GetValueOrDefault(id);

    /// <summary>Byte fallback's token for <paramref name="value"/>: <c>&lt;0x0A&gt;</c>.</summary>
    public static string ByteToken(byte value) => $"<0x{value:X2}>";

    /// <summary>Appends the ids of <paramref name="word"/> to <paramref name="ids"/>.</summary>
    public void Tokenize(string word, List<int> ids)
    {
        if (_ignoreMerges && _vocab.TryGetValue(word, out var whole))
        {
            ids.Add(whole);
            return;
        }

        var symbols = Symbols(word);
        Merge(symbols);
        foreach (var id in symbols)
        {
            if (id >= 0)
            {
                ids.Add(id);
            }
        }
    }

    /// <summary>
    /// The initial symbols: one per character, else its byte tokens, else the unknown token. As in
    /// Hugging Face's library a pending unknown token is written when the next known character comes
    /// (byte tokens do not flush it), and with <c>fuse_unk</c> consecutive unknowns become one.
    /// </summary>
    private List<int> Symbols(string word)
    {
        var symbols = new List<int>(word.Length);
        var pendingUnknown = false;
        foreach (var rune in word.EnumerateRunes())
        {
            if (_vocab.TryGetValue(rune.ToString(), out var id))
            {
                if (pendingUnknown)
                {
                    symbols.Add(_unkId!.Value);
                    pendingUnknown = false;
                }

                symbols.Add(id);
                continue;
            }

            if (_byteIds is not null && AddBytes(rune, symbols))
            {
                continue;
            }

            if (_unkId is { } unk)
            {
                if (pendingUnknown && !_fuseUnk)
                {
                    symbols.Add(unk);
                }

                pendingUnknown = true;
            }
        }

        if (pendingUnknown)
        {
            symbols.Add(_unkId!.Value);
        }

        return symbols;
    }

    private bool AddBytes(Rune rune, List<int> symbols)
    {
        Span<byte> bytes = stackalloc byte[4];
        var count = rune.EncodeToUtf8(bytes);
        for (var i = 0; i < count; i++)
        {
            if (_byteIds![bytes[i]] < 0)
            {
                return false;
            }
        }

        for (var i = 0; i < count; i++)
        {
            symbols.Add(_byteIds![bytes[i]]);
        }

        return true;
    }

    /// <summary>Applies merges in rank order; merged-away symbols become -1.</summary>
    private void Merge(List<int> symbols)
    {
        var count = symbols.Count;
        if (count < 2 || _merges.Count == 0)
        {
            return;
        }

        var previous = new int[count];
        var next = new int[count];
        for (var i = 0; i < count; i++)
        {
            previous[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        var queue = new PriorityQueue<(int Position, int NewId), (int Rank, int Position)>();
        for (var i = 0; i + 1 < count; i++)
        {
            Enqueue(queue, symbols, i, i + 1);
        }

        while (queue.TryDequeue(out var merge, out _))
        {
            var position = merge.Position;
            if (symbols[position] < 0 || next[position] < 0)
            {
                continue;
            }

            var right = next[position];
            if (!_merges.TryGetValue(Key(symbols[position], symbols[right]), out var current) || current.NewId != merge.NewId)
            {
                continue;
            }

            symbols[position] = merge.NewId;
            symbols[right] = -1;
            next[position] = next[right];
            if (next[right] >= 0)
            {
                previous[next[right]] = position;
            }

            if (previous[position] >= 0)
            {
                Enqueue(queue, symbols, previous[position], position);
            }

            if (next[position] >= 0)
            {
                Enqueue(queue, symbols, position, next[position]);
            }
        }
    }

    private void Enqueue(PriorityQueue<(int, int), (int, int)> queue, List<int> symbols, int left, int right)
    {
        if (_merges.TryGetValue(Key(symbols[left], symbols[right]), out var merge))
        {
            queue.Enqueue((left, merge.NewId), (merge.Rank, left));
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Reads a BPE model object.</summary>
    public static BpeModel Parse(JsonElement model, JsonFieldReader reader, string field)
    {
        reader.Object(model, field);
        var type = reader.OptionalString(model, "type", field + ".type") ?? "BPE";
        if (type != "BPE")
        {
            throw reader.Error(field + ".type", $"model '{type}' is not supported by this loader (supported: BPE)");
        }

        if (JsonFieldReader.Optional(model, "dropout") is { } dropout && !(dropout.ValueKind == JsonValueKind.Number && dropout.TryGetDouble(out var p) && p == 0))
        {
            throw reader.Error(field + ".dropout", "BPE dropout is not supported");
        }

        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (reader.OptionalString(model, affix, $"{field}.{affix}") is { Length: > 0 })
            {
                throw reader.Error($"{field}.{affix}", "a non-empty value is not supported");
            }
        }

        var (vocab, tokens) = ReadVocab(reader.Object(reader.Required(model, "vocab", field + ".vocab"), field + ".vocab"), reader, field + ".vocab");
        var merges = ReadMerges(reader.Array(reader.Required(model, "merges", field + ".merges"), field + ".merges"), vocab, reader, field + ".merges");
        int? unkId = null;
        if (reader.OptionalString(model, "unk_token", field + ".unk_token") is { } unk)
        {
            unkId = vocab.TryGetValue(unk, out var id) ? id : throw reader.Error(field + ".unk_token", $"'{unk}' is not in the vocabulary");
        }

        return new BpeModel(
            vocab,
            tokens,
            merges,
            unkId,
            reader.Bool(model, "fuse_unk", field + ".fuse_unk", false),
            reader.Bool(model, "byte_fallback", field + ".byte_fallback", false),
            reader.Bool(model, "ignore_merges", field + ".ignore_merges", false));
    }

    private static (Dictionary<string, int>, Dictionary<int, string>) ReadVocab(JsonElement element, JsonFieldReader reader, string field)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokens = new Dictionary<int, string>();
        foreach (var property in element.EnumerateObject())
        {
            var token = reader.Name(property, field);
            var id = reader.Int(property.Value, $"{field}.{token}", 0, MaxId - 1);
            if (token.Length == 0)
            {
                throw reader.Error(field, "an empty token");
            }

            if (!tokens.TryAdd(id, token))
            {
                throw reader.Error($"{field}.{token}", $"id {id} is also the id of '{tokens[id]}'");
            }

            vocab.Add(token, id);
        }

        return (vocab, tokens);
    }

    private static Dictionary<long, (int, int)> ReadMerges(JsonElement element, Dictionary<string, int> vocab, JsonFieldReader reader, string field)
    {
        var merges = new Dictionary<long, (int, int)>();
        var rank = 0;
        foreach (var item in element.EnumerateArray())
        {
            var at = $"{field}[{rank}]";
            string left, right;
            if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2)
            {
                left = reader.String(item[0], at + "[0]");
                right = reader.String(item[1], at + "[1]");
            }
            else
            {
                var text = reader.String(item, at);
                var parts = text.Split(' ');
                if (parts.Length != 2)
                {
                    throw reader.Error(at, $"'{text}' is not two tokens separated by one space");
                }

                (left, right) = (parts[0], parts[1]);
            }

            var leftId = vocab.TryGetValue(left, out var l) ? l : throw reader.Error(at, $"'{left}' is not in the vocabulary");
            var rightId = vocab.TryGetValue(right, out var r) ? r : throw reader.Error(at, $"'{right}' is not in the vocabulary");
            var merged = left + right;
            var newId = vocab.TryGetValue(merged, out var n) ? n : throw reader.Error(at, $"the merged token '{merged}' is not in the vocabulary");
            merges[Key(leftId, rightId)] = (rank, newId);
            rank++;
        }

        return merges;
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"BPE ({_vocab.Count} tokens, {_merges.Count} merges)");
}
