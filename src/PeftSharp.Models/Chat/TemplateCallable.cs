namespace PeftSharp.Models.Chat;

/// <summary>A function value: a global (<c>range</c>, <c>namespace</c>…), a macro, or a bound method (<c>'x'.strip</c>).</summary>
internal sealed class TemplateCallable(string name, Func<TemplateArguments, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(TemplateArguments arguments) => invoke(arguments);
}
