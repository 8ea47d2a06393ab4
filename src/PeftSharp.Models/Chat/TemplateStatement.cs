namespace PeftSharp.Models.Chat;

/// <summary>A statement of a template's syntax tree; the kinds are nested records.</summary>
internal abstract record TemplateStatement(int Offset)
{
    /// <summary>Literal text.</summary>
    public sealed record Text(int Offset, string Value) : TemplateStatement(Offset);

    /// <summary><c>{{ expression }}</c>.</summary>
    public sealed record Output(int Offset, TemplateExpression Value) : TemplateStatement(Offset);

    /// <summary><c>if</c> / <c>elif</c> branches and an optional <c>else</c>.</summary>
    public sealed record If(int Offset, TemplateExpression[] Conditions, TemplateStatement[][] Bodies, TemplateStatement[]? Otherwise) : TemplateStatement(Offset);

    /// <summary><c>for targets in iterable [if filter]</c> with an optional <c>else</c>.</summary>
    public sealed record For(int Offset, string[] Targets, bool Unpack, TemplateExpression Iterable, TemplateExpression? Filter, TemplateStatement[] Body, TemplateStatement[]? Otherwise) : TemplateStatement(Offset);

    /// <summary><c>set names = value</c> (several names unpack a sequence).</summary>
    public sealed record Set(int Offset, string[] Targets, bool Unpack, TemplateExpression Value) : TemplateStatement(Offset);

    /// <summary><c>set namespace.attribute = value</c>.</summary>
    public sealed record SetAttribute(int Offset, string Target, string Member, TemplateExpression Value) : TemplateStatement(Offset);

    /// <summary><c>{% set name | filters %}body{% endset %}</c>.</summary>
    public sealed record SetBlock(int Offset, string Target, TemplateExpression.Filter[] Filters, TemplateStatement[] Body) : TemplateStatement(Offset);

    /// <summary><c>{% macro name(params) %}body{% endmacro %}</c>.</summary>
    public sealed record Macro(int Offset, string Name, string[] Parameters, TemplateExpression?[] Defaults, TemplateStatement[] Body) : TemplateStatement(Offset);

    /// <summary><c>{% call macro(args) %}body{% endcall %}</c>: the body is the macro's <c>caller()</c>.</summary>
    public sealed record CallBlock(int Offset, TemplateExpression.Call Call, TemplateStatement[] Body) : TemplateStatement(Offset);

    /// <summary><c>{% filter name %}body{% endfilter %}</c>.</summary>
    public sealed record FilterBlock(int Offset, TemplateExpression.Filter[] Filters, TemplateStatement[] Body) : TemplateStatement(Offset);

    /// <summary><c>{% generation %}body{% endgeneration %}</c> (transformers' assistant-mask marker: the body renders as is).</summary>
    public sealed record Generation(int Offset, TemplateStatement[] Body) : TemplateStatement(Offset);

    /// <summary><c>{% break %}</c>.</summary>
    public sealed record Break(int Offset) : TemplateStatement(Offset);

    /// <summary><c>{% continue %}</c>.</summary>
    public sealed record Continue(int Offset) : TemplateStatement(Offset);
}
