namespace PeftSharp.Training;

/// <summary>A non-finite loss or gradient; the last good checkpoint stays on disk.</summary>
public sealed class NonFiniteTrainingException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteTrainingException(string message) : base(message)
    {
    }
}
