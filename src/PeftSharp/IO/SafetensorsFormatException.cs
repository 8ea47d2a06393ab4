namespace PeftSharp.IO;

/// <summary>A safetensors file (or its index) that does not follow the format.</summary>
public sealed class SafetensorsFormatException : PeftException
{
    /// <summary>Creates the exception for <paramref name="path"/> with a description of the problem.</summary>
    public SafetensorsFormatException(string path, string problem, Exception? innerException = null)
        : base($"{path}: invalid safetensors file: {problem}", innerException)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file that was being read.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
