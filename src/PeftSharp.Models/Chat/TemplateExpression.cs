namespace PeftSharp.Models.Chat;

/// <summary>
/// An expression of a template's syntax tree. The node kinds are nested records (the tree is one
/// closed set of small data types read only by the parser and the interpreter).
/// </summary>
internal abstract record TemplateExpression(int Offset)
{
    /// <summary>The depth of the tree under this node (bounded by the parser so evaluation cannot overflow the stack).</summary>
    public int Depth { get; init; } = 1;

    /// <summary>A literal value (string, number, boolean, none).</summary>
    public sealed record Literal(int Offset, object? Value) : TemplateExpression(Offset);

    /// <summary>A variable.</summary>
    public sealed record Name(int Offset, string Identifier) : TemplateExpression(Offset);

    /// <summary>A list literal.</summary>
    public sealed record ListLiteral(int Offset, TemplateExpression[] Items) : TemplateExpression(Offset);

    /// <summary>A tuple literal.</summary>
    public sealed record TupleLiteral(int Offset, TemplateExpression[] Items) : TemplateExpression(Offset);

    /// <summary>A dict literal.</summary>
    public sealed record DictLiteral(int Offset, TemplateExpression[] Keys, TemplateExpression[] Values) : TemplateExpression(Offset);

    /// <summary><c>target.name</c>.</summary>
    public sealed record Attribute(int Offset, TemplateExpression Target, string Member) : TemplateExpression(Offset);

    /// <summary><c>target[index]</c>.</summary>
    public sealed record Item(int Offset, TemplateExpression Target, TemplateExpression Index) : TemplateExpression(Offset);

    /// <summary><c>start:stop:step</c> inside a subscript.</summary>
    public sealed record Slice(int Offset, TemplateExpression? Start, TemplateExpression? Stop, TemplateExpression? Step) : TemplateExpression(Offset);

    /// <summary><c>callee(args, name=value)</c>.</summary>
    public sealed record Call(int Offset, TemplateExpression Callee, TemplateExpression[] Arguments, KeyValuePair<string, TemplateExpression>[] Named) : TemplateExpression(Offset);

    /// <summary><c>value | filter(args)</c>.</summary>
    public sealed record Filter(int Offset, TemplateExpression Value, string FilterName, TemplateExpression[] Arguments, KeyValuePair<string, TemplateExpression>[] Named) : TemplateExpression(Offset);

    /// <summary><c>value is [not] test(args)</c>.</summary>
    public sealed record Test(int Offset, TemplateExpression Value, string TestName, TemplateExpression[] Arguments, bool Negated) : TemplateExpression(Offset);

    /// <summary><c>not x</c>, <c>-x</c>, <c>+x</c>.</summary>
    public sealed record Unary(int Offset, string Operator, TemplateExpression Operand) : TemplateExpression(Offset);

    /// <summary>Arithmetic, <c>~</c>, <c>and</c>, <c>or</c>.</summary>
    public sealed record Binary(int Offset, string Operator, TemplateExpression Left, TemplateExpression Right) : TemplateExpression(Offset);

    /// <summary>A chain of comparisons <c>a &lt; b &lt;= c</c>, <c>in</c>, <c>not in</c>.</summary>
    public sealed record Compare(int Offset, TemplateExpression First, string[] Operators, TemplateExpression[] Operands) : TemplateExpression(Offset);

    /// <summary><c>then if condition else otherwise</c> (no else: undefined).</summary>
    public sealed record Conditional(int Offset, TemplateExpression Condition, TemplateExpression Then, TemplateExpression? Otherwise) : TemplateExpression(Offset);
}
