namespace PeftSharp.Adapters;

/// <summary>
/// An adapter was asked for its plain-LoRA form (export, the budget dial) but its function is not a
/// plain LoRA (DoRA rescales the rows of the base weight); the message says why and what to do instead.
/// </summary>
public sealed class NotPlainLoraException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public NotPlainLoraException(string message) : base(message)
    {
    }
}
