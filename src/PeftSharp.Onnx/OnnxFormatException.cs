namespace PeftSharp.Onnx;

/// <summary>
/// An ONNX file, or the package resource holding one, that PeftSharp cannot read or map: truncated
/// or malformed protobuf, unsupported tensor types, external data, implausible sizes, cycles, or a
/// graph that is not a BERT-family encoder. The message names the file and the offending part.
/// </summary>
public sealed class OnnxFormatException : PeftException
{
    /// <summary>Creates the exception with a message.</summary>
    public OnnxFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public OnnxFormatException(string message, Exception? innerException) : base(message, innerException) { }
}
