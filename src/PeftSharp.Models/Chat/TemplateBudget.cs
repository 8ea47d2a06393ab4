namespace PeftSharp.Models.Chat;

/// <summary>The sandbox's bounds for one render: steps taken and the size of what the template builds.</summary>
internal sealed class TemplateBudget(ChatTemplateOptions options)
{
    private long _steps;

    public ChatTemplateOptions Options { get; } = options;

    /// <summary>Takes <paramref name="steps"/> steps; fails once the render has taken more than its bound.</summary>
    public void Charge(long steps)
    {
        _steps += steps;
        if (_steps > Options.MaxSteps)
        {
            throw new TemplateRuntimeException($"the template took more than {Options.MaxSteps} steps (limit of the sandbox)");
        }
    }

    /// <summary>Charges for a string or list of <paramref name="length"/> characters or items about to be built; fails when it is longer than the output bound.</summary>
    public void ChargeSize(long length)
    {
        if (length > Options.MaxOutputLength)
        {
            throw new TemplateRuntimeException($"a value of {length} characters or items exceeds the sandbox's limit of {Options.MaxOutputLength}");
        }

        Charge(1 + (length >> 4));
    }

    /// <summary>Charges for <paramref name="added"/> characters or items appended to a value now <paramref name="total"/> long; fails when the total is longer than the output bound.</summary>
    public void Grow(long total, long added)
    {
        if (total > Options.MaxOutputLength)
        {
            throw new TemplateRuntimeException($"a value of {total} characters or items exceeds the sandbox's limit of {Options.MaxOutputLength}");
        }

        Charge(1 + (added >> 4));
    }
}
