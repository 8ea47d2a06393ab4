namespace PeftSharp.Models.Chat;

/// <summary>
/// A render error raised where the position is not known (value operations, filters); the
/// interpreter turns it into a <see cref="ChatTemplateException"/> at the expression being evaluated.
/// </summary>
internal sealed class TemplateRuntimeException(string message, bool raisedByTemplate = false) : Exception(message)
{
    public bool RaisedByTemplate { get; } = raisedByTemplate;
}
