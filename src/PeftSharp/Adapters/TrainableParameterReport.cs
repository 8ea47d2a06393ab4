namespace PeftSharp.Adapters;

/// <summary>Trainable and total parameter counts, printed the way PEFT's <c>print_trainable_parameters</c> does.</summary>
/// <param name="Trainable">Elements in parameters that require gradient.</param>
/// <param name="Total">Elements in all parameters (base, adapters, copies), each tensor counted once.</param>
public sealed record TrainableParameterReport(long Trainable, long Total)
{
    /// <summary>Trainable share in percent.</summary>
    public double TrainablePercent => Total == 0 ? 0 : 100.0 * Trainable / Total;

    /// <summary><c>trainable params: 1,234 || all params: 5,678 || trainable%: 21.7329</c></summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"trainable params: {Trainable:N0} || all params: {Total:N0} || trainable%: {TrainablePercent:F4}");
}
