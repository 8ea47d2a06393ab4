using E = PeftSharp.Models.Chat.TemplateExpression;
using S = PeftSharp.Models.Chat.TemplateStatement;

namespace PeftSharp.Models.Chat;

/// <summary>Builds the syntax tree of a template from its tokens (Jinja's grammar, the subset chat templates use).</summary>
internal sealed class TemplateParser
{
    /// <summary>The deepest expression tree or block nesting accepted (evaluation recurses along it).</summary>
    public const int MaxDepth = 128;

    private static readonly HashSet<string> CompareOperators = ["==", "!=", "<", "<=", ">", ">="];

    private readonly TemplateSource _source;
    private readonly List<TemplateToken> _tokens;
    private int _at;
    private int _nesting;

    private TemplateParser(TemplateSource source, List<TemplateToken> tokens)
    {
        _source = source;
        _tokens = tokens;
    }

    /// <summary>The statements of <paramref name="source"/>.</summary>
    public static S[] Parse(TemplateSource source)
    {
        var parser = new TemplateParser(source, TemplateLexer.Tokenize(source));
        var body = parser.Body(out var end);
        if (end is not null)
        {
            throw source.Error(parser.Current.Offset, $"unexpected '{end}' (no block to close)");
        }

        return body;
    }

    private TemplateToken Current => _tokens[_at];

    private TemplateToken Next() => _tokens[_at++];

    private ChatTemplateException Error(string problem) => _source.Error(Current.Offset, problem);

    private static string Describe(TemplateToken token) => token.Kind switch
    {
        TemplateTokenKind.End => "end of template",
        TemplateTokenKind.BlockEnd => "end of statement block",
        TemplateTokenKind.VariableEnd => "end of print statement",
        TemplateTokenKind.String => "string literal",
        _ => $"'{token.Text}'",
    };

    private void Expect(string op)
    {
        if (!Current.IsOperator(op))
        {
            throw Error($"expected '{op}', got {Describe(Current)}");
        }

        _at++;
    }

    private string ExpectName()
    {
        if (Current.Kind != TemplateTokenKind.Name)
        {
            throw Error($"expected a name, got {Describe(Current)}");
        }

        return Next().Text;
    }

    private void ExpectBlockEnd()
    {
        if (Current.Kind != TemplateTokenKind.BlockEnd)
        {
            throw Error($"expected end of statement block, got {Describe(Current)}");
        }

        _at++;
    }

    /// <summary>Statements up to the end of the template or to a block tag this body does not own (its name in <paramref name="end"/>; the parser then stands on the name).</summary>
    private S[] Body(out string? end)
    {
        var body = new List<S>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TemplateTokenKind.End:
                    end = null;
                    return [.. body];
                case TemplateTokenKind.Text:
                    body.Add(new S.Text(token.Offset, token.Text));
                    _at++;
                    break;
                case TemplateTokenKind.VariableBegin:
                    _at++;
                    var value = Expression();
                    if (Current.Kind != TemplateTokenKind.VariableEnd)
                    {
                        throw Error($"expected end of print statement, got {Describe(Current)}");
                    }

                    _at++;
                    body.Add(new S.Output(token.Offset, value));
                    break;
                case TemplateTokenKind.BlockBegin:
                    _at++;
                    if (Current.Kind != TemplateTokenKind.Name)
                    {
                        throw Error($"expected a statement name, got {Describe(Current)}");
                    }

                    if (Current.Text is "endif" or "elif" or "else" or "endfor" or "endset" or "endmacro" or "endcall" or "endfilter" or "endgeneration")
                    {
                        end = Current.Text;
                        return [.. body];
                    }

                    body.Add(Statement());
                    break;
                default:
                    throw Error($"unexpected {Describe(token)}");
            }
        }
    }

    /// <summary>A body that must end with one of <paramref name="ends"/>; consumes the end tag's name and returns it.</summary>
    private S[] Block(int start, string owner, out string end, params string[] ends)
    {
        if (++_nesting > MaxDepth)
        {
            throw Error($"blocks nest deeper than {MaxDepth}");
        }

        var body = Body(out var found);
        _nesting--;
        if (found is null || !ends.Contains(found))
        {
            var problem = found is null
                ? $"'{owner}' block is never closed (expected {string.Join(" or ", ends.Select(e => $"'{e}'"))})"
                : $"unexpected '{found}' inside '{owner}' (expected {string.Join(" or ", ends.Select(e => $"'{e}'"))})";
            throw found is null ? _source.Error(start, problem) : Error(problem);
        }

        _at++;
        end = found;
        return body;
    }

    private S Statement()
    {
        var start = _tokens[_at - 1].Offset;
        var keyword = Next().Text;
        switch (keyword)
        {
            case "if":
                return If(start);
            case "for":
                return For(start);
            case "set":
                return Set(start);
            case "macro":
                return Macro(start);
            case "call":
                return CallBlock(start);
            case "filter":
                {
                    var filters = FilterChain();
                    ExpectBlockEnd();
                    var body = Block(start, "filter", out _, "endfilter");
                    ExpectBlockEnd();
                    return new S.FilterBlock(start, filters, body);
                }

            case "generation":
                {
                    ExpectBlockEnd();
                    var body = Block(start, "generation", out _, "endgeneration");
                    ExpectBlockEnd();
                    return new S.Generation(start, body);
                }

            case "break":
                ExpectBlockEnd();
                return new S.Break(start);
            case "continue":
                ExpectBlockEnd();
                return new S.Continue(start);
            default:
                _at--;
                throw Error($"unsupported statement '{keyword}'");
        }
    }

    private S If(int start)
    {
        var conditions = new List<E> { Expression() };
        var bodies = new List<S[]>();
        ExpectBlockEnd();
        while (true)
        {
            bodies.Add(Block(start, "if", out var end, "elif", "else", "endif"));
            switch (end)
            {
                case "elif":
                    conditions.Add(Expression());
                    ExpectBlockEnd();
                    continue;
                case "else":
                    ExpectBlockEnd();
                    var otherwise = Block(start, "if", out _, "endif");
                    ExpectBlockEnd();
                    return new S.If(start, [.. conditions], [.. bodies], otherwise);
                default:
                    ExpectBlockEnd();
                    return new S.If(start, [.. conditions], [.. bodies], null);
            }
        }
    }

    private (string[] Names, bool Unpack) Targets()
    {
        var parenthesized = Current.IsOperator("(");
        if (parenthesized)
        {
            _at++;
        }

        var names = new List<string> { ExpectName() };
        var unpack = parenthesized;
        while (Current.IsOperator(","))
        {
            unpack = true;
            _at++;
            if (Current.Kind != TemplateTokenKind.Name)
            {
                break;
            }

            names.Add(ExpectName());
        }

        if (parenthesized)
        {
            Expect(")");
        }

        return ([.. names], unpack);
    }

    private S For(int start)
    {
        var (targets, unpack) = Targets();
        if (!Current.IsName("in"))
        {
            throw Error($"expected 'in', got {Describe(Current)}");
        }

        _at++;
        var iterable = Tuple(conditional: false);
        E? filter = null;
        if (Current.IsName("if"))
        {
            _at++;
            filter = Expression();
        }

        if (Current.IsName("recursive"))
        {
            throw Error("recursive loops are not supported");
        }

        ExpectBlockEnd();
        var body = Block(start, "for", out var end, "else", "endfor");
        S[]? otherwise = null;
        if (end == "else")
        {
            ExpectBlockEnd();
            otherwise = Block(start, "for", out _, "endfor");
        }

        ExpectBlockEnd();
        return new S.For(start, targets, unpack, iterable, filter, body, otherwise);
    }

    private S Set(int start)
    {
        if (Current.Kind == TemplateTokenKind.Name && _tokens[_at + 1].IsOperator("."))
        {
            var target = Next().Text;
            _at++;
            var member = ExpectName();
            Expect("=");
            var value = Tuple(conditional: true);
            ExpectBlockEnd();
            return new S.SetAttribute(start, target, member, value);
        }

        var (names, unpack) = Targets();
        if (Current.IsOperator("="))
        {
            _at++;
            var value = Tuple(conditional: true);
            ExpectBlockEnd();
            return new S.Set(start, names, unpack, value);
        }

        if (unpack)
        {
            throw Error($"expected '=', got {Describe(Current)}");
        }

        var filters = Current.IsOperator("|") ? FilterChainAfterPipe() : [];
        ExpectBlockEnd();
        var body = Block(start, "set", out _, "endset");
        ExpectBlockEnd();
        return new S.SetBlock(start, names[0], filters, body);
    }

    private E.Filter[] FilterChainAfterPipe()
    {
        _at++;
        return FilterChain();
    }

    private E.Filter[] FilterChain()
    {
        var filters = new List<E.Filter>();
        while (true)
        {
            filters.Add(FilterCall(new E.Literal(Current.Offset, string.Empty)));
            if (!Current.IsOperator("|"))
            {
                return [.. filters];
            }

            _at++;
        }
    }

    private S Macro(int start)
    {
        var name = ExpectName();
        Expect("(");
        var parameters = new List<string>();
        var defaults = new List<E?>();
        while (!Current.IsOperator(")"))
        {
            parameters.Add(ExpectName());
            if (Current.IsOperator("="))
            {
                _at++;
                defaults.Add(Expression());
            }
            else
            {
                defaults.Add(null);
            }

            if (!Current.IsOperator(","))
            {
                break;
            }

            _at++;
        }

        Expect(")");
        ExpectBlockEnd();
        var body = Block(start, "macro", out _, "endmacro");
        if (Current.Kind == TemplateTokenKind.Name && Current.Text == name)
        {
            _at++;
        }

        ExpectBlockEnd();
        return new S.Macro(start, name, [.. parameters], [.. defaults], body);
    }

    private S CallBlock(int start)
    {
        if (Current.IsOperator("("))
        {
            throw Error("call blocks with caller parameters are not supported");
        }

        var call = Expression() as E.Call ?? throw _source.Error(start, "expected a macro call after 'call'");
        ExpectBlockEnd();
        var body = Block(start, "call", out _, "endcall");
        ExpectBlockEnd();
        return new S.CallBlock(start, call, body);
    }

    // Expressions, from the loosest binding to the tightest, as Jinja's parser.

    private T Checked<T>(T node, params E?[] children)
        where T : E
    {
        var depth = 1;
        foreach (var child in children)
        {
            if (child is not null && child.Depth + 1 > depth)
            {
                depth = child.Depth + 1;
            }
        }

        if (depth > MaxDepth)
        {
            throw _source.Error(node.Offset, $"expression nests deeper than {MaxDepth}");
        }

        return node with { Depth = depth };
    }

    /// <summary>An expression, or a tuple of expressions separated by commas (for and set).</summary>
    private E Tuple(bool conditional)
    {
        var start = Current.Offset;
        var first = conditional ? Expression() : Or();
        if (!Current.IsOperator(","))
        {
            return first;
        }

        var items = new List<E> { first };
        while (Current.IsOperator(","))
        {
            _at++;
            if (Current.Kind is TemplateTokenKind.BlockEnd or TemplateTokenKind.VariableEnd || Current.IsName("if"))
            {
                break;
            }

            items.Add(conditional ? Expression() : Or());
        }

        return Checked(new E.TupleLiteral(start, [.. items]), [.. items]);
    }

    private E Expression()
    {
        if (++_nesting > MaxDepth)
        {
            throw Error($"expression nests deeper than {MaxDepth}");
        }

        var value = Or();
        while (Current.IsName("if"))
        {
            var start = Next().Offset;
            var condition = Or();
            E? otherwise = null;
            if (Current.IsName("else"))
            {
                _at++;
                otherwise = Expression();
            }

            value = Checked(new E.Conditional(start, condition, value, otherwise), condition, value, otherwise);
        }

        _nesting--;
        return value;
    }

    private E Or()
    {
        var left = And();
        while (Current.IsName("or"))
        {
            var start = Next().Offset;
            var right = And();
            left = Checked(new E.Binary(start, "or", left, right), left, right);
        }

        return left;
    }

    private E And()
    {
        var left = Not();
        while (Current.IsName("and"))
        {
            var start = Next().Offset;
            var right = Not();
            left = Checked(new E.Binary(start, "and", left, right), left, right);
        }

        return left;
    }

    private E Not()
    {
        if (Current.IsName("not"))
        {
            var start = Next().Offset;
            if (++_nesting > MaxDepth)
            {
                throw Error($"expression nests deeper than {MaxDepth}");
            }

            var operand = Not();
            _nesting--;
            return Checked(new E.Unary(start, "not", operand), operand);
        }

        return Comparison();
    }

    private E Comparison()
    {
        var start = Current.Offset;
        var first = Sum();
        var operators = new List<string>();
        var operands = new List<E>();
        while (true)
        {
            if (Current.Kind == TemplateTokenKind.Operator && CompareOperators.Contains(Current.Text))
            {
                operators.Add(Next().Text);
            }
            else if (Current.IsName("in"))
            {
                _at++;
                operators.Add("in");
            }
            else if (Current.IsName("not") && _tokens[_at + 1].IsName("in"))
            {
                _at += 2;
                operators.Add("not in");
            }
            else
            {
                break;
            }

            operands.Add(Sum());
        }

        return operators.Count == 0 ? first : Checked(new E.Compare(start, first, [.. operators], [.. operands]), [first, .. operands]);
    }

    private E Sum()
    {
        var left = Concat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var token = Next();
            var right = Concat();
            left = Checked(new E.Binary(token.Offset, token.Text, left, right), left, right);
        }

        return left;
    }

    private E Concat()
    {
        var left = Product();
        while (Current.IsOperator("~"))
        {
            var start = Next().Offset;
            var right = Product();
            left = Checked(new E.Binary(start, "~", left, right), left, right);
        }

        return left;
    }

    private E Product()
    {
        var left = Power();
        while (Current.Kind == TemplateTokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var token = Next();
            var right = Power();
            left = Checked(new E.Binary(token.Offset, token.Text, left, right), left, right);
        }

        return left;
    }

    private E Power()
    {
        var left = Unary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            var start = Next().Offset;
            var right = Unary(withFilter: true);
            left = Checked(new E.Binary(start, "**", left, right), left, right);
        }

        return left;
    }

    private E Unary(bool withFilter)
    {
        E node;
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var token = Next();
            if (++_nesting > MaxDepth)
            {
                throw Error($"expression nests deeper than {MaxDepth}");
            }

            var operand = Unary(withFilter: false);
            _nesting--;
            node = Checked(new E.Unary(token.Offset, token.Text, operand), operand);
        }
        else
        {
            node = Postfix(Primary());
        }

        return withFilter ? FilterOrTest(node) : node;
    }

    private E Primary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TemplateTokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new E.Literal(token.Offset, true),
                    "false" or "False" => new E.Literal(token.Offset, false),
                    "none" or "None" => new E.Literal(token.Offset, null),
                    _ => new E.Name(token.Offset, token.Text),
                };
            case TemplateTokenKind.String:
                if (Current.Kind != TemplateTokenKind.String)
                {
                    return new E.Literal(token.Offset, token.Text);
                }

                var text = new System.Text.StringBuilder(token.Text);
                while (Current.Kind == TemplateTokenKind.String)
                {
                    text.Append(Next().Text);
                }

                return new E.Literal(token.Offset, text.ToString());
            case TemplateTokenKind.Integer:
                return new E.Literal(token.Offset, long.Parse(token.Text, CultureInfo.InvariantCulture));
            case TemplateTokenKind.Float:
                return new E.Literal(token.Offset, double.Parse(token.Text, CultureInfo.InvariantCulture));
            case TemplateTokenKind.Operator when token.Text == "(":
                {
                    if (Current.IsOperator(")"))
                    {
                        _at++;
                        return new E.TupleLiteral(token.Offset, []);
                    }

                    var first = Expression();
                    if (Current.IsOperator(")"))
                    {
                        _at++;
                        return first;
                    }

                    var items = new List<E> { first };
                    while (Current.IsOperator(","))
                    {
                        _at++;
                        if (Current.IsOperator(")"))
                        {
                            break;
                        }

                        items.Add(Expression());
                    }

                    Expect(")");
                    return Checked(new E.TupleLiteral(token.Offset, [.. items]), [.. items]);
                }

            case TemplateTokenKind.Operator when token.Text == "[":
                {
                    var items = new List<E>();
                    while (!Current.IsOperator("]"))
                    {
                        items.Add(Expression());
                        if (!Current.IsOperator(","))
                        {
                            break;
                        }

                        _at++;
                    }

                    Expect("]");
                    return Checked(new E.ListLiteral(token.Offset, [.. items]), [.. items]);
                }

            case TemplateTokenKind.Operator when token.Text == "{":
                {
                    var keys = new List<E>();
                    var values = new List<E>();
                    while (!Current.IsOperator("}"))
                    {
                        keys.Add(Expression());
                        Expect(":");
                        values.Add(Expression());
                        if (!Current.IsOperator(","))
                        {
                            break;
                        }

                        _at++;
                    }

                    Expect("}");
                    return Checked(new E.DictLiteral(token.Offset, [.. keys], [.. values]), [.. keys, .. values]);
                }

            default:
                _at--;
                throw Error($"unexpected {Describe(token)}");
        }
    }

    private E Postfix(E node)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("."))
            {
                _at++;
                var member = Next();
                if (member.Kind is not (TemplateTokenKind.Name or TemplateTokenKind.Integer))
                {
                    _at--;
                    throw Error($"expected an attribute name after '.', got {Describe(member)}");
                }

                node = member.Kind == TemplateTokenKind.Integer
                    ? Checked(new E.Item(token.Offset, node, new E.Literal(member.Offset, long.Parse(member.Text, CultureInfo.InvariantCulture))), node)
                    : Checked(new E.Attribute(token.Offset, node, member.Text), node);
            }
            else if (token.IsOperator("["))
            {
                _at++;
                var index = Subscript();
                Expect("]");
                node = Checked(new E.Item(token.Offset, node, index), node, index);
            }
            else if (token.IsOperator("("))
            {
                var (arguments, named) = CallArguments();
                node = Checked(new E.Call(token.Offset, node, arguments, named), [node, .. arguments, .. named.Select(n => n.Value)]);
            }
            else
            {
                return node;
            }
        }
    }

    private E Subscript()
    {
        var start = Current.Offset;
        E? first = Current.IsOperator(":") ? null : Expression();
        if (!Current.IsOperator(":"))
        {
            return first!;
        }

        _at++;
        E? stop = Current.IsOperator(":") || Current.IsOperator("]") ? null : Expression();
        E? step = null;
        if (Current.IsOperator(":"))
        {
            _at++;
            step = Current.IsOperator("]") ? null : Expression();
        }

        return Checked(new E.Slice(start, first, stop, step), first, stop, step);
    }

    private (E[] Arguments, KeyValuePair<string, E>[] Named) CallArguments()
    {
        Expect("(");
        var arguments = new List<E>();
        var named = new List<KeyValuePair<string, E>>();
        while (!Current.IsOperator(")"))
        {
            if (Current.IsOperator("*") || Current.IsOperator("**"))
            {
                throw Error("*args and **kwargs in calls are not supported");
            }

            if (Current.Kind == TemplateTokenKind.Name && _tokens[_at + 1].IsOperator("="))
            {
                var name = Next().Text;
                _at++;
                named.Add(KeyValuePair.Create(name, Expression()));
            }
            else
            {
                if (named.Count > 0)
                {
                    throw Error("a positional argument follows a keyword argument");
                }

                arguments.Add(Expression());
            }

            if (!Current.IsOperator(","))
            {
                break;
            }

            _at++;
        }

        Expect(")");
        return ([.. arguments], [.. named]);
    }

    private E FilterOrTest(E node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                _at++;
                node = FilterCall(node);
            }
            else if (Current.IsName("is"))
            {
                var start = Next().Offset;
                var negated = false;
                if (Current.IsName("not"))
                {
                    _at++;
                    negated = true;
                }

                var name = ExpectName();
                while (Current.IsOperator("."))
                {
                    _at++;
                    name += "." + ExpectName();
                }

                E[] arguments = [];
                if (Current.IsOperator("("))
                {
                    var (positional, named) = CallArguments();
                    if (named.Length > 0)
                    {
                        throw _source.Error(start, $"test '{name}' takes no keyword arguments");
                    }

                    arguments = positional;
                }
                else if ((Current.Kind is TemplateTokenKind.Name or TemplateTokenKind.String or TemplateTokenKind.Integer or TemplateTokenKind.Float
                          || Current.IsOperator("[") || Current.IsOperator("{"))
                         && !Current.IsName("else") && !Current.IsName("or") && !Current.IsName("and") && !Current.IsName("is")
                         && !Current.IsName("if") && !Current.IsName("in") && !Current.IsName("not"))
                {
                    arguments = [Postfix(Primary())];
                }

                node = Checked(new E.Test(start, node, name, arguments, negated), [node, .. arguments]);
            }
            else if (Current.IsOperator("(") || Current.IsOperator(".") || Current.IsOperator("["))
            {
                node = Postfix(node);
            }
            else
            {
                return node;
            }
        }
    }

    private E.Filter FilterCall(E value)
    {
        var start = Current.Offset;
        var name = ExpectName();
        while (Current.IsOperator("."))
        {
            _at++;
            name += "." + ExpectName();
        }

        E[] arguments = [];
        KeyValuePair<string, E>[] named = [];
        if (Current.IsOperator("("))
        {
            (arguments, named) = CallArguments();
        }

        return Checked(new E.Filter(start, value, name, arguments, named), [value, .. arguments, .. named.Select(n => n.Value)]);
    }
}
