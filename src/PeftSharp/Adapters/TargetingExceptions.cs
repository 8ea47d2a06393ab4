namespace PeftSharp.Adapters;

/// <summary>The target modules of an adapter matched nothing in the model (PEFT's <c>NoMatchingPeftModuleError</c>).</summary>
public sealed class TargetModulesNotFoundException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public TargetModulesNotFoundException(string message, IReadOnlyList<string> nearCandidates) : base(message)
    {
        NearCandidates = nearCandidates;
    }

    /// <summary>Module names that resemble the pattern, nearest first.</summary>
    public IReadOnlyList<string> NearCandidates { get; }
}

/// <summary>A target pattern matched a module that adapters cannot wrap (not a Linear or Conv1D).</summary>
public sealed class UnsupportedTargetModuleException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedTargetModuleException(string message, string moduleName) : base(message)
    {
        ModuleName = moduleName;
    }

    /// <summary>The module that cannot be adapted.</summary>
    public string ModuleName { get; }
}
