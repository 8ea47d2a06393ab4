namespace PeftSharp;

/// <summary>Base type of every error PeftSharp raises on purpose (bad input, bad configuration, misuse).</summary>
public class PeftException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public PeftException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public PeftException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>An adapter or method configuration that is invalid or cannot be applied.</summary>
public sealed class PeftConfigurationException : PeftException
{
    /// <summary>Creates the exception with a message.</summary>
    public PeftConfigurationException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public PeftConfigurationException(string message, Exception? innerException) : base(message, innerException) { }
}
