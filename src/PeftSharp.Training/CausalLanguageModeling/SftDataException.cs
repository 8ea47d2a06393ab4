namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// A record of a supervised fine-tuning file that cannot be trained on: a missing field, a value of
/// the wrong type, an empty completion, a conversation without an assistant turn, a chat template that
/// fails or renders inconsistently. Raised while the data is read, before training starts.
/// </summary>
public sealed class SftDataException : PeftException
{
    /// <summary>Creates the exception for line <paramref name="line"/> (1-based) of <paramref name="filePath"/>, field <paramref name="field"/> (null: the whole record or file).</summary>
    public SftDataException(string filePath, int line, string? field, string problem, Exception? innerException = null)
        : base($"{filePath}:{line}: {(field is null ? "" : $"field '{field}': ")}{problem}", innerException)
    {
        FilePath = filePath;
        Line = line;
        Field = field;
        Problem = problem;
    }

    /// <summary>The data file.</summary>
    public string FilePath { get; }

    /// <summary>The 1-based line of the record (0: the file as a whole).</summary>
    public int Line { get; }

    /// <summary>The offending field (<c>messages[2].content</c>), or null.</summary>
    public string? Field { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }
}
