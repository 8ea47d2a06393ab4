namespace PeftSharp.Models.Chat;

/// <summary>The kinds of <see cref="TemplateToken"/>.</summary>
internal enum TemplateTokenKind
{
    /// <summary>Literal text outside tags.</summary>
    Text,

    /// <summary><c>{{</c>.</summary>
    VariableBegin,

    /// <summary><c>}}</c>.</summary>
    VariableEnd,

    /// <summary><c>{%</c>.</summary>
    BlockBegin,

    /// <summary><c>%}</c>.</summary>
    BlockEnd,

    /// <summary>An identifier or keyword.</summary>
    Name,

    /// <summary>A string literal (its value, escapes resolved).</summary>
    String,

    /// <summary>An integer literal.</summary>
    Integer,

    /// <summary>A float literal.</summary>
    Float,

    /// <summary>An operator or punctuation.</summary>
    Operator,

    /// <summary>The end of the template.</summary>
    End,
}
