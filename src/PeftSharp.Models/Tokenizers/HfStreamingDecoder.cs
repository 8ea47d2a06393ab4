namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// Decodes ids one at a time for streaming generation without ever splitting a character: as Hugging
/// Face's DecodeStream it decodes a short window (the ids of the last emitted piece plus the new ones)
/// and emits only text beyond that window's previous decode, holding it back while it ends in U+FFFD
/// (an incomplete UTF-8 sequence of byte-level or byte-fallback tokens). After
/// <see cref="MaxPending"/> ids without new complete text it emits what there is, so the window, and
/// the work per id, stay bounded.
/// </summary>
public sealed class HfStreamingDecoder
{
    /// <summary>The most ids held back (a UTF-8 character takes at most 4 byte tokens).</summary>
    public const int MaxPending = 16;

    private readonly HfTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _ids = [];
    private string _prefix = string.Empty;
    private int _prefixIndex;

    internal HfStreamingDecoder(HfTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the newly complete text, or an empty string when there is none yet.</summary>
    public string Add(int id)
    {
        _ids.Add(id);
        var text = _tokenizer.Decode(_ids, _skipSpecialTokens);
        var complete = text.Length > _prefix.Length && !text.EndsWith('\uFFFD');
        if (!complete && _ids.Count - _prefixIndex < MaxPending)
        {
            return string.Empty;
        }

        var emitted = text.Length > _prefix.Length ? text[CommonPrefixLength(text, _prefix)..] : string.Empty;
        var newPrefixIndex = _ids.Count - _prefixIndex;
        _ids.RemoveRange(0, _prefixIndex);
        _prefix = _tokenizer.Decode(_ids, _skipSpecialTokens);
        _prefixIndex = newPrefixIndex;
        return emitted;
    }

    /// <summary>Returns what is held back (an incomplete sequence at the end of the stream, as U+FFFD) and starts over.</summary>
    public string Flush()
    {
        var text = _tokenizer.Decode(_ids, _skipSpecialTokens);
        var rest = text.Length > _prefix.Length ? text[CommonPrefixLength(text, _prefix)..] : string.Empty;
        _ids.Clear();
        _prefix = string.Empty;
        _prefixIndex = 0;
        return rest;
    }

    private static int CommonPrefixLength(string text, string prefix)
    {
        var length = text.AsSpan().CommonPrefixLength(prefix);
        if (length > 0 && length < text.Length && char.IsLowSurrogate(text[length]))
        {
            length--;
        }

        return length;
    }
}
