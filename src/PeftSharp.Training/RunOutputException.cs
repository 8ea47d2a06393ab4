namespace PeftSharp.Training;

/// <summary>A run file (metrics, best adapter, checkpoint) could not be written, for example because the disk is full; the previous checkpoint stays on disk.</summary>
public sealed class RunOutputException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public RunOutputException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
