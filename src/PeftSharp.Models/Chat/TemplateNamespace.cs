namespace PeftSharp.Models.Chat;

/// <summary>The object <c>namespace(...)</c> makes: attributes a loop body can assign with <c>set ns.name = value</c>.</summary>
internal sealed class TemplateNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}
