using System.Text.RegularExpressions;

namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// A Hugging Face split pattern run with .NET's <see cref="Regex"/>. The Rust library matches code
/// points, so <c>\p{L}</c> matches a letter outside the Basic Multilingual Plane (𝔥); .NET matches
/// UTF-16 units, where each half of a surrogate pair is category Cs. The pattern therefore runs on a
/// shadow string in which both halves of a pair are replaced by a BMP character of the code point's
/// category, and a boundary that would fall inside a pair is dropped.
/// </summary>
internal sealed class RegexSplitter
{
    /// <summary>
    /// The longest regex pattern accepted. Real split patterns are under 500 characters; .NET's
    /// analysis of a long literal run costs memory quadratic in its length (100 MB at 20,000
    /// characters), so longer patterns are refused.
    /// </summary>
    public const int MaxPatternLength = 2000;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    private readonly Regex? _regex;
    private readonly string _file;
    private readonly string _field;

    private RegexSplitter(Regex? regex, string? literal, string file, string field)
    {
        _regex = regex;
        Literal = literal;
        _file = file;
        _field = field;
    }

    /// <summary>The pattern when it is a literal string (<c>{"String": ...}</c>), else null.</summary>
    public string? Literal { get; }

    /// <summary>Compiles <paramref name="pattern"/>; a pattern .NET cannot parse is a format error naming the field.</summary>
    public static RegexSplitter Create(string pattern, bool literal, string file, string field)
    {
        if (pattern.Length == 0)
        {
            throw new ConfigFormatException(file, field, "the pattern is empty");
        }

        if (literal)
        {
            // Found with IndexOf: a regex built from a long literal costs far more than the pattern.
            return new RegexSplitter(null, pattern, file, field);
        }

        if (pattern.Length > MaxPatternLength)
        {
            throw new ConfigFormatException(file, field, $"the pattern has {pattern.Length} characters, more than the {MaxPatternLength} accepted");
        }

        try
        {
            return new RegexSplitter(new Regex(pattern, RegexOptions.CultureInvariant, Timeout), null, file, field);
        }
        catch (ArgumentException e)
        {
            throw new ConfigFormatException(file, field, $"the pattern is not a regular expression .NET supports: {e.Message}", e);
        }
    }

    /// <summary>
    /// Cuts <paramref name="text"/> into consecutive spans covering it, each marked as a match or not
    /// (empty matches are ignored).
    /// </summary>
    public List<(int Start, int End, bool IsMatch)> Spans(string text)
    {
        if (_regex is null)
        {
            return LiteralSpans(text, Literal!);
        }

        var shadow = Shadow(text);
        var spans = new List<(int Start, int End, bool IsMatch)>();
        var last = 0;
        try
        {
            for (var match = _regex.Match(shadow); match.Success; match = match.NextMatch())
            {
                if (match.Length == 0)
                {
                    continue;
                }

                if (match.Index > last)
                {
                    Add(spans, text, last, match.Index, false);
                }

                Add(spans, text, match.Index, match.Index + match.Length, true);
                last = match.Index + match.Length;
            }
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new ConfigFormatException(_file, _field, $"the pattern took longer than {Timeout.TotalSeconds} s on a text of {text.Length} characters", e);
        }

        if (last < text.Length)
        {
            Add(spans, text, last, text.Length, false);
        }

        return spans;
    }

    /// <summary>The spans of a literal pattern (leftmost, non-overlapping occurrences, as a regex of it finds).</summary>
    private static List<(int Start, int End, bool IsMatch)> LiteralSpans(string text, string literal)
    {
        var spans = new List<(int Start, int End, bool IsMatch)>();
        var last = 0;
        for (var at = text.IndexOf(literal, StringComparison.Ordinal); at >= 0; at = text.IndexOf(literal, last, StringComparison.Ordinal))
        {
            if (at > last)
            {
                spans.Add((last, at, false));
            }

            spans.Add((at, at + literal.Length, true));
            last = at + literal.Length;
        }

        if (last < text.Length)
        {
            spans.Add((last, text.Length, false));
        }

        return spans;
    }

    /// <summary>Appends a span, joining it to the previous one when the boundary would split a surrogate pair.</summary>
    private static void Add(List<(int Start, int End, bool IsMatch)> spans, string text, int start, int end, bool isMatch)
    {
        if (spans.Count > 0 && start > 0 && char.IsLowSurrogate(text[start]) && char.IsHighSurrogate(text[start - 1]))
        {
            var previous = spans[^1];
            spans[^1] = (previous.Start, end, previous.IsMatch);
            return;
        }

        spans.Add((start, end, isMatch));
    }

    private static string Shadow(string text)
    {
        var index = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (index < 0)
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (var i = index; i < chars.Length - 1; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && char.IsLowSurrogate(chars[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(chars[i], chars[i + 1]));
                chars[i] = chars[i + 1] = Representative(category);
                i++;
            }
        }

        return new string(chars);
    }

    /// <summary>A BMP character of <paramref name="category"/> (letters avoid s, t, m, d, l, r, v, which contraction patterns name).</summary>
    private static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => 'A',
        UnicodeCategory.LowercaseLetter => 'a',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u05D0',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '0',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.Format => '\u200B',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.ConnectorPunctuation => '_',
        UnicodeCategory.DashPunctuation => '-',
        UnicodeCategory.OpenPunctuation => '(',
        UnicodeCategory.ClosePunctuation => ')',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '!',
        UnicodeCategory.MathSymbol => '+',
        UnicodeCategory.CurrencySymbol => '$',
        UnicodeCategory.ModifierSymbol => '^',
        UnicodeCategory.OtherSymbol => '\u00A9',
        _ => '\u0378',
    };
}
