using System.Globalization;
using System.Text.RegularExpressions;
using PeftSharp.IO;

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
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    private readonly Regex _regex;
    private readonly string _file;
    private readonly string _field;

    private RegexSplitter(Regex regex, string? literal, string file, string field)
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

        try
        {
            var regex = new Regex(literal ? Regex.Escape(pattern) : pattern, RegexOptions.CultureInvariant, Timeout);
            return new RegexSplitter(regex, literal ? pattern : null, file, field);
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
