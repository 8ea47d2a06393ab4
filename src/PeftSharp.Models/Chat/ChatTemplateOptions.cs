namespace PeftSharp.Models.Chat;

/// <summary>The bounds of the sandbox a chat template renders in, and its clock.</summary>
public sealed class ChatTemplateOptions
{
    /// <summary>The defaults: 1,000,000 steps, 1 MiB of output, 64 nested calls, the system clock.</summary>
    public static ChatTemplateOptions Default { get; } = new();

    /// <summary>
    /// The most evaluation steps one render may take. Every statement, expression and loop iteration
    /// is a step, and so is every 16 characters or list items a value built by the template holds.
    /// </summary>
    public long MaxSteps { get; init; } = 1_000_000;

    /// <summary>The most characters the rendered text (and any one string the template builds) may hold.</summary>
    public int MaxOutputLength { get; init; } = 1 << 20;

    /// <summary>The deepest nesting of macro calls.</summary>
    public int MaxCallDepth { get; init; } = 64;

    /// <summary>The clock <c>strftime_now</c> reads (local time, as transformers' <c>datetime.now()</c>).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}
