namespace PeftSharp.IO.Json;

/// <summary>
/// A value a configuration converter refuses. The message is the problem as the reader reports it
/// (for example <c>expected an integer, found "eight"</c>); <see cref="Suffix"/> names an element
/// below the field the serializer is at (<c>[0]</c>).
/// </summary>
internal sealed class JsonFieldException : JsonException
{
    /// <summary>Creates the exception.</summary>
    public JsonFieldException(string problem, string suffix = "") : base(problem) => Suffix = suffix;

    /// <summary>The element below the current field (<c>[2]</c>), or empty.</summary>
    public string Suffix { get; }

    /// <summary>"expected <paramref name="expected"/>, found &lt;the token at the reader&gt;".</summary>
    public static JsonFieldException Expected(string expected, ref Utf8JsonReader reader, string suffix = "") =>
        new($"expected {expected}, found {JsonTokenText.Describe(ref reader)}", suffix);
}
