namespace PeftSharp.Models.Chat;

/// <summary>One token of a template: its kind, its text (or literal value) and where it starts.</summary>
internal readonly record struct TemplateToken(TemplateTokenKind Kind, string Text, int Offset)
{
    /// <summary>True for the operator <paramref name="op"/>.</summary>
    public bool IsOperator(string op) => Kind == TemplateTokenKind.Operator && Text == op;

    /// <summary>True for the name <paramref name="name"/>.</summary>
    public bool IsName(string name) => Kind == TemplateTokenKind.Name && Text == name;
}
