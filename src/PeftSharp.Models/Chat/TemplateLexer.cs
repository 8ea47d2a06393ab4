namespace PeftSharp.Models.Chat;

/// <summary>
/// Splits a template into tokens as Jinja does with <c>trim_blocks</c> and <c>lstrip_blocks</c> on
/// (the way transformers renders chat templates): whitespace control with <c>-</c> and <c>+</c>,
/// comments, raw blocks, and the expression tokens inside <c>{{ }}</c> and <c>{% %}</c>.
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private readonly TemplateSource _source;
    private readonly string _text;
    private readonly List<TemplateToken> _tokens = [];
    private int _pos;

    private TemplateLexer(TemplateSource source)
    {
        _source = source;
        _text = source.Text;
    }

    /// <summary>The tokens of <paramref name="source"/>, ending with an <see cref="TemplateTokenKind.End"/> token.</summary>
    public static List<TemplateToken> Tokenize(TemplateSource source)
    {
        var lexer = new TemplateLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    /// <summary>Jinja's newline handling: <c>\r\n</c> and <c>\r</c> become <c>\n</c>, and one trailing newline is dropped.</summary>
    public static string Normalize(string text)
    {
        text = text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    private void Run()
    {
        while (_pos < _text.Length)
        {
            var at = NextTag(_pos);
            var textStart = _pos;
            var text = _text[_pos..at];
            if (at == _text.Length)
            {
                AddText(text, textStart);
                break;
            }

            var kind = _text[at + 1];
            var modifier = at + 2 < _text.Length ? _text[at + 2] : '\0';
            if (modifier == '-')
            {
                text = text.TrimEnd();
            }
            else if (kind != '{' && modifier != '+')
            {
                text = LeftStripBlock(text, textStart);
            }

            AddText(text, textStart);
            _pos = at + 2 + (modifier is '-' or '+' ? 1 : 0);
            switch (kind)
            {
                case '#':
                    Comment(at);
                    break;
                case '%' when IsRawBegin():
                    Raw(at);
                    break;
                default:
                    Tag(at, kind == '{');
                    break;
            }
        }

        _tokens.Add(new TemplateToken(TemplateTokenKind.End, string.Empty, _text.Length));
    }

    private int NextTag(int from)
    {
        var at = from;
        while (true)
        {
            at = _text.IndexOf('{', at);
            if (at < 0 || at + 1 >= _text.Length)
            {
                return _text.Length;
            }

            if (_text[at + 1] is '{' or '%' or '#')
            {
                return at;
            }

            at++;
        }
    }

    /// <summary>lstrip_blocks: spaces and tabs between the start of a line and a block or comment tag go.</summary>
    private string LeftStripBlock(string text, int textStart)
    {
        var lineStart = text.LastIndexOf('\n') + 1;
        var lineStarting = textStart == 0 || _text[textStart - 1] == '\n';
        if (lineStart == 0 && !lineStarting)
        {
            return text;
        }

        for (var i = lineStart; i < text.Length; i++)
        {
            if (!char.IsWhiteSpace(text[i]))
            {
                return text;
            }
        }

        return text[..lineStart];
    }

    private void AddText(string text, int offset)
    {
        if (text.Length > 0)
        {
            _tokens.Add(new TemplateToken(TemplateTokenKind.Text, text, offset));
        }
    }

    /// <summary>After a tag's end: <c>-</c> eats all whitespace, a block's plain end eats one newline (trim_blocks).</summary>
    private void AfterTagEnd(bool stripAll, bool isBlock, bool keepNewline)
    {
        if (stripAll)
        {
            while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos]))
            {
                _pos++;
            }
        }
        else if (isBlock && !keepNewline && _pos < _text.Length && _text[_pos] == '\n')
        {
            _pos++;
        }
    }

    private void Comment(int start)
    {
        var end = _text.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (end < 0)
        {
            throw _source.Error(start, "unclosed comment: '{#' without '#}'");
        }

        var stripAll = end > _pos && _text[end - 1] == '-';
        var keepNewline = end > _pos && _text[end - 1] == '+';
        _pos = end + 2;
        AfterTagEnd(stripAll, isBlock: true, keepNewline);
    }

    private bool IsRawBegin()
    {
        var i = SkipSpaces(_pos);
        if (string.CompareOrdinal(_text, i, "raw", 0, 3) != 0)
        {
            return false;
        }

        i = SkipSpaces(i + 3);
        if (i < _text.Length && _text[i] == '-')
        {
            i++;
        }

        return string.CompareOrdinal(_text, i, "%}", 0, 2) == 0;
    }

    private void Raw(int start)
    {
        var close = _text.IndexOf("%}", _pos, StringComparison.Ordinal);
        var stripStart = _text[close - 1] == '-';
        var contentStart = close + 2;
        var search = contentStart;
        while (true)
        {
            var at = _text.IndexOf("{%", search, StringComparison.Ordinal);
            if (at < 0)
            {
                throw _source.Error(start, "unclosed raw block: '{% raw %}' without '{% endraw %}'");
            }

            var i = at + 2;
            var stripEnd = i < _text.Length && _text[i] == '-';
            if (i < _text.Length && _text[i] is '-' or '+')
            {
                i++;
            }

            i = SkipSpaces(i);
            if (string.CompareOrdinal(_text, i, "endraw", 0, 6) == 0)
            {
                var j = SkipSpaces(i + 6);
                var stripAfter = j < _text.Length && _text[j] == '-';
                var keepNewline = j < _text.Length && _text[j] == '+';
                if (stripAfter || keepNewline)
                {
                    j++;
                }

                if (string.CompareOrdinal(_text, j, "%}", 0, 2) == 0)
                {
                    var content = _text[contentStart..at];
                    if (stripStart)
                    {
                        content = content.TrimStart();
                    }

                    if (stripEnd)
                    {
                        content = content.TrimEnd();
                    }

                    AddText(content, contentStart);
                    _pos = j + 2;
                    AfterTagEnd(stripAfter, isBlock: true, keepNewline);
                    return;
                }
            }

            search = at + 2;
        }
    }

    private int SkipSpaces(int i)
    {
        while (i < _text.Length && char.IsWhiteSpace(_text[i]))
        {
            i++;
        }

        return i;
    }

    private void Tag(int start, bool isVariable)
    {
        _tokens.Add(new TemplateToken(isVariable ? TemplateTokenKind.VariableBegin : TemplateTokenKind.BlockBegin, isVariable ? "{{" : "{%", start));
        var close = isVariable ? "}}" : "%}";
        var depth = 0;
        while (true)
        {
            _pos = SkipSpaces(_pos);
            if (_pos >= _text.Length)
            {
                throw _source.Error(start, $"unclosed tag: '{(isVariable ? "{{" : "{%")}' without '{close}'");
            }

            if (depth == 0)
            {
                var modifier = _text[_pos] is '-' or '+' ? _text[_pos] : '\0';
                var closeAt = modifier == '\0' ? _pos : _pos + 1;
                if (string.CompareOrdinal(_text, closeAt, close, 0, 2) == 0 && (modifier != '+' || !isVariable))
                {
                    _tokens.Add(new TemplateToken(isVariable ? TemplateTokenKind.VariableEnd : TemplateTokenKind.BlockEnd, close, _pos));
                    _pos = closeAt + 2;
                    AfterTagEnd(modifier == '-', !isVariable, modifier == '+');
                    return;
                }
            }

            var c = _text[_pos];
            if (c is '\'' or '"')
            {
                StringLiteral();
            }
            else if (char.IsAsciiDigit(c))
            {
                Number();
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var begin = _pos;
                while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] == '_'))
                {
                    _pos++;
                }

                _tokens.Add(new TemplateToken(TemplateTokenKind.Name, _text[begin.._pos], begin));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(_text, _pos, o, 0, o.Length) == 0)
                    ?? throw _source.Error(_pos, $"unexpected character '{c}'");
                depth += op is "(" or "[" or "{" ? 1 : op is ")" or "]" or "}" ? -1 : 0;
                if (depth < 0)
                {
                    throw _source.Error(_pos, $"unexpected '{op}'");
                }

                _tokens.Add(new TemplateToken(TemplateTokenKind.Operator, op, _pos));
                _pos += op.Length;
            }
        }
    }

    private void Number()
    {
        var begin = _pos;
        Digits();
        var isFloat = false;
        if (_pos + 1 < _text.Length && _text[_pos] == '.' && char.IsAsciiDigit(_text[_pos + 1])
            && !(_tokens.Count > 0 && _tokens[^1].IsOperator(".")))
        {
            isFloat = true;
            _pos++;
            Digits();
        }

        if (_pos < _text.Length && _text[_pos] is 'e' or 'E')
        {
            var i = _pos + 1;
            if (i < _text.Length && _text[i] is '+' or '-')
            {
                i++;
            }

            if (i < _text.Length && char.IsAsciiDigit(_text[i]))
            {
                isFloat = true;
                _pos = i;
                Digits();
            }
        }

        var literal = _text[begin.._pos].Replace("_", string.Empty, StringComparison.Ordinal);
        if (isFloat)
        {
            _tokens.Add(new TemplateToken(TemplateTokenKind.Float, literal, begin));
        }
        else
        {
            if (!long.TryParse(literal, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                throw _source.Error(begin, $"integer literal {literal} is out of range");
            }

            _tokens.Add(new TemplateToken(TemplateTokenKind.Integer, literal, begin));
        }
    }

    private void Digits()
    {
        while (_pos < _text.Length && (char.IsAsciiDigit(_text[_pos]) || (_text[_pos] == '_' && _pos + 1 < _text.Length && char.IsAsciiDigit(_text[_pos + 1]))))
        {
            _pos++;
        }
    }

    /// <summary>A quoted string with Python's escapes (as Jinja's <c>unicode-escape</c> decoding).</summary>
    private void StringLiteral()
    {
        var begin = _pos;
        var quote = _text[_pos++];
        var value = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length)
            {
                throw _source.Error(begin, "unterminated string literal");
            }

            var c = _text[_pos++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\')
            {
                value.Append(c);
                continue;
            }

            if (_pos >= _text.Length)
            {
                throw _source.Error(begin, "unterminated string literal");
            }

            var e = _text[_pos++];
            switch (e)
            {
                case 'n': value.Append('\n'); break;
                case 't': value.Append('\t'); break;
                case 'r': value.Append('\r'); break;
                case '\\': value.Append('\\'); break;
                case '\'': value.Append('\''); break;
                case '"': value.Append('"'); break;
                case 'a': value.Append('\a'); break;
                case 'b': value.Append('\b'); break;
                case 'f': value.Append('\f'); break;
                case 'v': value.Append('\v'); break;
                case '\n': break;
                case 'x': value.Append(HexEscape(begin, 2)); break;
                case 'u': value.Append(HexEscape(begin, 4)); break;
                case 'U': value.Append(HexEscape(begin, 8)); break;
                case >= '0' and <= '7':
                    var octal = e - '0';
                    for (var k = 0; k < 2 && _pos < _text.Length && _text[_pos] is >= '0' and <= '7'; k++)
                    {
                        octal = octal * 8 + (_text[_pos++] - '0');
                    }

                    value.Append((char)octal);
                    break;
                default:
                    value.Append('\\').Append(e);
                    break;
            }
        }

        _tokens.Add(new TemplateToken(TemplateTokenKind.String, value.ToString(), begin));
    }

    private string HexEscape(int begin, int digits)
    {
        if (_pos + digits > _text.Length
            || !int.TryParse(_text.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code)
            || code > 0x10FFFF || code < 0)
        {
            throw _source.Error(begin, $"invalid \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in a string literal");
        }

        _pos += digits;
        return code is >= 0xD800 and <= 0xDFFF ? ((char)code).ToString() : char.ConvertFromUtf32(code);
    }
}
