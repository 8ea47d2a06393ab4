namespace PeftSharp.Models.Chat;

/// <summary>The evaluated arguments of a call: positional, then named.</summary>
internal sealed class TemplateArguments(List<object?> positional, Dictionary<string, object?> named)
{
    public List<object?> Positional { get; } = positional;

    public Dictionary<string, object?> Named { get; } = named;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null)
    {
        if (index < Positional.Count)
        {
            return Positional[index];
        }

        return Named.TryGetValue(name, out var value) ? value : fallback;
    }

    /// <summary>True when the argument at <paramref name="index"/> or named <paramref name="name"/> is given.</summary>
    public bool Has(int index, string name) => index < Positional.Count || Named.ContainsKey(name);

    /// <summary>Fails unless at most <paramref name="count"/> positional arguments and only the names in <paramref name="names"/> are given.</summary>
    public void Check(string callee, int count, params string[] names)
    {
        if (Positional.Count > count)
        {
            throw new TemplateRuntimeException($"{callee}() takes at most {count} positional argument{(count == 1 ? string.Empty : "s")} ({Positional.Count} given)");
        }

        foreach (var name in Named.Keys)
        {
            if (!names.Contains(name))
            {
                throw new TemplateRuntimeException($"{callee}() got an unexpected keyword argument '{name}'");
            }
        }
    }
}
