namespace PeftSharp.Models.Chat;

/// <summary>
/// A chat template that cannot be parsed or rendered: malformed or unsupported syntax, a runtime
/// error (undefined value used, wrong type), a limit of the sandbox reached, or the template's own
/// <c>raise_exception(message)</c>. The message names the template and its line and column.
/// </summary>
public sealed class ChatTemplateException : PeftException
{
    /// <summary>Creates the exception for <paramref name="problem"/> at <paramref name="line"/>:<paramref name="column"/> of <paramref name="sourceName"/> (0: no position).</summary>
    public ChatTemplateException(string sourceName, int line, int column, string problem, bool raisedByTemplate = false)
        : base(line > 0 ? $"{sourceName}:{line}:{column}: {problem}" : $"{sourceName}: {problem}")
    {
        SourceName = sourceName;
        Line = line;
        Column = column;
        Problem = problem;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>The template's name (a file name, or <c>chat_template</c>).</summary>
    public string SourceName { get; }

    /// <summary>The 1-based line of the template the error is at, or 0 when it has none.</summary>
    public int Line { get; }

    /// <summary>The 1-based column of the template the error is at, or 0 when it has none.</summary>
    public int Column { get; }

    /// <summary>The problem without the position.</summary>
    public string Problem { get; }

    /// <summary>True when the template itself raised the error with <c>raise_exception(message)</c>; <see cref="Problem"/> is then its message.</summary>
    public bool RaisedByTemplate { get; }
}
