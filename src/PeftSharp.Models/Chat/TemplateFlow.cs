namespace PeftSharp.Models.Chat;

/// <summary>How a body ended: normally, or at <c>break</c> or <c>continue</c>.</summary>
internal enum TemplateFlow
{
    /// <summary>The body ran to its end.</summary>
    Normal,

    /// <summary>A <c>break</c> left the loop.</summary>
    Break,

    /// <summary>A <c>continue</c> ended the iteration.</summary>
    Continue,
}
