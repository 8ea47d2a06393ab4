namespace PeftSharp.Training.CausalLanguageModeling;

/// <summary>
/// A supervised fine-tuning record that <see cref="SftEncoder"/> cannot encode, naming the field;
/// <see cref="SftDataset"/> turns it into an <see cref="SftDataException"/> with the file and line.
/// </summary>
public sealed class SftRecordException : PeftException
{
    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public SftRecordException(string field, string problem, Exception? innerException = null)
        : base($"field '{field}': {problem}", innerException)
    {
        Field = field;
        Problem = problem;
    }

    /// <summary>The offending field (<c>completion</c>, <c>messages[3]</c>).</summary>
    public string Field { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}
