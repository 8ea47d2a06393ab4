namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// Finds added tokens in text as Hugging Face's AddedVocabulary does: leftmost-longest matches,
/// <c>single_word</c> matches dropped when a word character touches them, <c>lstrip</c>/<c>rstrip</c>
/// widening a match over the whitespace beside it. Work is linear in the text times the number of
/// tokens sharing a first character.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Dictionary<char, HfAddedToken[]> _byFirstChar;

    public AddedTokenSplitter(IEnumerable<HfAddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    /// <summary>True when there is no token to find.</summary>
    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Cuts <paramref name="text"/> into pieces of plain text (token null) and added tokens, in order.</summary>
    public List<(string Text, HfAddedToken? Token)> Split(string text)
    {
        var pieces = new List<(string, HfAddedToken?)>();
        var done = 0;
        var i = 0;
        while (i < text.Length)
        {
            var token = Longest(text, i);
            if (token is null)
            {
                i++;
                continue;
            }

            var start = i;
            var stop = i + token.Content.Length;
            i = stop;
            if (token.SingleWord && ((start > 0 && IsWordChar(text, start - 1)) || (stop < text.Length && IsWordChar(text, stop))))
            {
                continue;
            }

            if (token.LStrip)
            {
                while (start > done && char.IsWhiteSpace(text[start - 1]))
                {
                    start--;
                }
            }

            if (token.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop]))
                {
                    stop++;
                }

                i = stop;
            }

            if (start > done)
            {
                pieces.Add((text[done..start], null));
            }

            pieces.Add((text[start..stop], token));
            done = stop;
        }

        if (done < text.Length)
        {
            pieces.Add((text[done..], null));
        }

        return pieces;
    }

    private HfAddedToken? Longest(string text, int at)
    {
        if (!_byFirstChar.TryGetValue(text[at], out var candidates))
        {
            return null;
        }

        var rest = text.AsSpan(at);
        foreach (var candidate in candidates)
        {
            if (rest.StartsWith(candidate.Content, StringComparison.Ordinal))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Rust's <c>is_alphanumeric() || c == '_'</c> for the character at <paramref name="index"/> (a surrogate pair read whole).</summary>
    private static bool IsWordChar(string text, int index)
    {
        if (char.IsLowSurrogate(text[index]) && index > 0 && char.IsHighSurrogate(text[index - 1]))
        {
            index--;
        }

        if (!Rune.TryGetRuneAt(text, index, out var rune))
        {
            return false;
        }

        return rune.Value == '_' || Rune.GetUnicodeCategory(rune) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
            or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
    }
}
