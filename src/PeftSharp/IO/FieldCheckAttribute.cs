namespace PeftSharp.IO;

/// <summary>
/// A range check on one configuration field, declared on its property and run by
/// <see cref="ConfigValidator.CheckDeclared"/> under the field's property and JSON names. A null value
/// (an optional field left unset) always passes.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = true)]
public abstract class FieldCheckAttribute : Attribute
{
    /// <summary>What <paramref name="value"/> must be, with its article (<c>an integer &gt; 0</c>), or null when it passes.</summary>
    public abstract string? Problem(object value);

    private protected static double Number(object value) => Convert.ToDouble(value, CultureInfo.InvariantCulture);
}

/// <summary>A rank or size: an integer &gt; 0.</summary>
public sealed class RankAttribute : FieldCheckAttribute
{
    /// <inheritdoc />
    public override string? Problem(object value) => Number(value) > 0 ? null : "an integer > 0";
}

/// <summary>A finite number.</summary>
public sealed class FiniteAttribute : FieldCheckAttribute
{
    /// <inheritdoc />
    public override string? Problem(object value) => double.IsFinite(Number(value)) ? null : "a finite number";
}

/// <summary>A count or finite number ≥ 0.</summary>
public sealed class NonNegativeAttribute : FieldCheckAttribute
{
    /// <inheritdoc />
    public override string? Problem(object value)
    {
        var number = Number(value);
        return double.IsFinite(number) && number >= 0 ? null : value is int ? "an integer ≥ 0" : "a finite number ≥ 0";
    }
}

/// <summary>A dropout probability in [0, 1).</summary>
public sealed class DropoutAttribute : FieldCheckAttribute
{
    /// <inheritdoc />
    public override string? Problem(object value) => Number(value) is >= 0 and < 1 ? null : "a probability in [0, 1)";
}

/// <summary>A number in the open interval (0, 1).</summary>
public sealed class OpenUnitAttribute : FieldCheckAttribute
{
    /// <inheritdoc />
    public override string? Problem(object value) => Number(value) is > 0 and < 1 ? null : "a number in (0, 1)";
}
