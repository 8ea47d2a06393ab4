namespace PeftSharp.Adapters;

/// <summary>
/// Every module of an adapter has rank 0 (AdaLoRA or SoRA pruned them all, or a budget of 0 was
/// asked for): the adapter adds nothing, so there is no LoRA to export.
/// </summary>
public sealed class AllRanksPrunedException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public AllRanksPrunedException(string message) : base(message)
    {
    }
}
