namespace PeftSharp.IO;

/// <summary>
/// System.Text.Json's error messages as people count: its <see cref="JsonException.LineNumber"/> and
/// <see cref="JsonException.BytePositionInLine"/> are 0-based, and its message repeats them so;
/// editors count lines and columns from 1.
/// </summary>
public static class JsonErrorText
{
    /// <summary>
    /// The problem of <paramref name="exception"/> with its position counted from 1:
    /// <c>'x' is an invalid start of a value (line 3, column 16)</c>; <paramref name="singleLine"/>
    /// (one JSONL record, whose line the caller names) gives only the column.
    /// </summary>
    public static string Describe(JsonException exception, bool singleLine = false)
    {
        var message = Problem(exception);
        if (exception.LineNumber is not { } line)
        {
            return message;
        }

        var column = (exception.BytePositionInLine ?? 0) + 1;
        return singleLine
            ? string.Create(CultureInfo.InvariantCulture, $"{message} (column {column})")
            : string.Create(CultureInfo.InvariantCulture, $"{message} (line {line + 1}, column {column})");
    }

    /// <summary>The problem of <paramref name="exception"/> without the position System.Text.Json appends (for JSON deserialized from a node, where it means nothing).</summary>
    public static string Problem(JsonException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var message = exception.Message;
        foreach (var marker in (ReadOnlySpan<string>)[" Path: ", " LineNumber: ", " | LineNumber: "])
        {
            var at = message.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                message = message[..at];
            }
        }

        return message.TrimEnd(' ', '.');
    }

    /// <summary>
    /// The 1-based line and column of byte <paramref name="offset"/> of <paramref name="utf8"/>:
    /// <c>line 3, column 16</c>, or <c>column 16</c> for text of one line (the column counts bytes).
    /// </summary>
    public static string Position(ReadOnlySpan<byte> utf8, long offset)
    {
        var before = utf8[..(int)Math.Clamp(offset, 0, utf8.Length)];
        var column = before.Length - (before.LastIndexOf((byte)'\n') + 1) + 1;
        return utf8.Contains((byte)'\n')
            ? string.Create(CultureInfo.InvariantCulture, $"line {before.Count((byte)'\n') + 1}, column {column}")
            : string.Create(CultureInfo.InvariantCulture, $"column {column}");
    }
}
