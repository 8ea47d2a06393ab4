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

    /// <summary>
    /// Creates the exception for one setting of an options object out of range, so that a front end
    /// can name the setting its own way (a command-line option, a key of a file).
    /// </summary>
    /// <param name="message">The whole message, naming the setting as the library calls it.</param>
    /// <param name="setting">The property (<c>MaxSteps</c>).</param>
    /// <param name="problem">What is wrong with its value, without the setting's name (<c>must be at least 1, got 0</c>).</param>
    public PeftConfigurationException(string message, string setting, string problem) : base(message)
    {
        Setting = setting;
        Problem = problem;
    }

    /// <summary>The property of the options object that is out of range (<c>MaxSteps</c>), or null when the problem is not one setting's.</summary>
    public string? Setting { get; }

    /// <summary>What is wrong with <see cref="Setting"/>'s value, without its name, or null.</summary>
    public string? Problem { get; }
}
