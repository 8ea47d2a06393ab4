namespace PeftSharp.Models.Chat;

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class TemplateLoop(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }

    public object? Attribute(string name) => name switch
    {
        "index" => (long)Index0 + 1,
        "index0" => (long)Index0,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new TemplateUndefined("there is no previous item"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : new TemplateUndefined("there is no next item"),
        "cycle" => new TemplateCallable("loop.cycle", Cycle),
        "changed" => throw new TemplateRuntimeException("loop.changed is not supported"),
        _ => new TemplateUndefined($"loop has no attribute '{name}'"),
    };

    private object? Cycle(TemplateArguments arguments)
    {
        if (arguments.Positional.Count == 0)
        {
            throw new TemplateRuntimeException("loop.cycle() needs at least one argument");
        }

        return arguments.Positional[Index0 % arguments.Positional.Count];
    }
}
