namespace PeftSharp.Models.Chat;

/// <summary>Jinja's default <c>Undefined</c>: falsy, prints as nothing, iterates as empty; most other uses are errors.</summary>
internal sealed class TemplateUndefined
{
    public TemplateUndefined(string description) => Description = description;

    /// <summary>What is undefined, for messages (<c>'foo' is undefined</c>).</summary>
    public string Description { get; }
}
